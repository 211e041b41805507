//! The dashboard's words in the six UI languages (SPEC §13), and how a page picks its
//! language: `?lang=` (the switcher), then the `twin_lang` cookie it sets, then
//! `Accept-Language`, then English.

use actix_web::HttpRequest;
use twin_render::Lang;

/// The cookie the language switcher sets.
pub const LANG_COOKIE: &str = "twin_lang";

/// The language of a dashboard request, and whether it came from `?lang=` (then the page
/// sets the cookie).
pub fn pick(req: &HttpRequest) -> (Lang, bool) {
    let from_query = req.query_string().split('&').find_map(|pair| {
        let (name, value) = pair.split_once('=')?;
        (name == "lang").then(|| exact(value)).flatten()
    });
    if let Some(lang) = from_query {
        return (lang, true);
    }
    let cookie = super::cookie(req.headers(), LANG_COOKIE).and_then(exact);
    if let Some(lang) = cookie {
        return (lang, false);
    }
    let accepted = req
        .headers()
        .get(actix_web::http::header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    (from_accept_language(accepted), false)
}

fn exact(code: &str) -> Option<Lang> {
    Lang::ALL.iter().copied().find(|l| l.as_str() == code)
}

/// The first of the six languages `Accept-Language` asks for, by quality (English when it
/// asks for none of them).
///
/// ```ignore
/// assert_eq!(from_accept_language("de-CH, fr;q=0.9"), Lang::De);
/// ```
pub fn from_accept_language(header: &str) -> Lang {
    let mut best: Option<(f32, Lang)> = None;
    for item in header.split(',') {
        let mut parts = item.trim().split(';');
        let tag = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
        let quality = parts
            .find_map(|p| p.trim().strip_prefix("q="))
            .and_then(|q| q.parse::<f32>().ok())
            .unwrap_or(1.0);
        let primary = tag.split('-').next().unwrap_or_default();
        if let Some(lang) = exact(primary)
            && quality > 0.0
            && best.is_none_or(|(q, _)| quality > q)
        {
            best = Some((quality, lang));
        }
    }
    best.map_or(Lang::En, |(_, lang)| lang)
}

/// The language's own name, for the switcher.
pub fn native_name(lang: Lang) -> &'static str {
    match lang {
        Lang::Es => "Español",
        Lang::En => "English",
        Lang::Fr => "Français",
        Lang::De => "Deutsch",
        Lang::It => "Italiano",
        Lang::Pt => "Português",
    }
}

macro_rules! messages {
    ($($name:ident => [$es:literal, $en:literal, $fr:literal, $de:literal, $it:literal, $pt:literal],)+) => {
        /// A word or sentence of the dashboard.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        #[allow(missing_docs)]
        pub enum Msg { $($name),+ }

        impl Msg {
            /// The text in `lang`.
            pub fn t(self, lang: Lang) -> &'static str {
                let row: [&'static str; 6] = match self { $(Msg::$name => [$es, $en, $fr, $de, $it, $pt]),+ };
                row[match lang {
                    Lang::Es => 0,
                    Lang::En => 1,
                    Lang::Fr => 2,
                    Lang::De => 3,
                    Lang::It => 4,
                    Lang::Pt => 5,
                }]
            }
        }
    };
}

messages! {
    Keys => ["Claves", "Keys", "Clés", "Schlüssel", "Chiavi", "Chaves"],
    Account => ["Cuenta", "Account", "Compte", "Konto", "Account", "Conta"],
    ConnectedApps => ["Apps conectadas", "Connected apps", "Applications connectées", "Verbundene Apps", "App collegate", "Apps conectadas"],
    Webhooks => ["Webhooks", "Webhooks", "Webhooks", "Webhooks", "Webhook", "Webhooks"],
    SignOut => ["Cerrar sesión", "Sign out", "Se déconnecter", "Abmelden", "Esci", "Sair"],
    Language => ["Idioma", "Language", "Langue", "Sprache", "Lingua", "Idioma"],
    YourKeys => ["Tus claves de API", "Your API keys", "Vos clés d'API", "Deine API-Schlüssel", "Le tue chiavi API", "As suas chaves de API"],
    CreateKey => ["Crear clave", "Create key", "Créer une clé", "Schlüssel erstellen", "Crea chiave", "Criar chave"],
    All => ["Todas", "All", "Toutes", "Alle", "Tutte", "Todas"],
    Active => ["activa", "active", "active", "aktiv", "attiva", "ativa"],
    Disabled => ["desactivada", "disabled", "désactivée", "deaktiviert", "disattivata", "desativada"],
    Expired => ["caducada", "expired", "expirée", "abgelaufen", "scaduta", "expirada"],
    Revoked => ["revocada", "revoked", "révoquée", "widerrufen", "revocata", "revogada"],
    Name => ["Nombre", "Name", "Nom", "Name", "Nome", "Nome"],
    Prefix => ["Prefijo", "Prefix", "Préfixe", "Präfix", "Prefisso", "Prefixo"],
    Env => ["Entorno", "Environment", "Environnement", "Umgebung", "Ambiente", "Ambiente"],
    Status => ["Estado", "Status", "Statut", "Status", "Stato", "Estado"],
    Scopes => ["Permisos", "Scopes", "Portées", "Berechtigungen", "Permessi", "Permissões"],
    Created => ["Creada", "Created", "Créée", "Erstellt", "Creata", "Criada"],
    LastUsed => ["Último uso", "Last used", "Dernière utilisation", "Zuletzt benutzt", "Ultimo uso", "Último uso"],
    Never => ["nunca", "never", "jamais", "nie", "mai", "nunca"],
    Quota => ["Cuota mensual", "Monthly quota", "Quota mensuel", "Monatskontingent", "Quota mensile", "Quota mensal"],
    Spend => ["Gasto", "Spend", "Dépense", "Ausgaben", "Spesa", "Gasto"],
    NoCap => ["sin límite", "no cap", "sans plafond", "ohne Limit", "nessun limite", "sem limite"],
    NoKeys => ["Aún no hay claves.", "No keys yet.", "Aucune clé pour l'instant.", "Noch keine Schlüssel.", "Ancora nessuna chiave.", "Ainda não há chaves."],
    ExpiresInDays => ["Caduca en (días)", "Expires in (days)", "Expire dans (jours)", "Läuft ab in (Tagen)", "Scade tra (giorni)", "Expira em (dias)"],
    RateLimit => ["Límite por minuto (0 = sin límite)", "Rate limit per minute (0 = unlimited)", "Limite par minute (0 = illimitée)", "Limit pro Minute (0 = unbegrenzt)", "Limite al minuto (0 = illimitato)", "Limite por minuto (0 = ilimitado)"],
    SpendCap => ["Tope de gasto (créditos)", "Spend cap (credits)", "Plafond de dépense (crédits)", "Ausgabenlimit (Credits)", "Tetto di spesa (crediti)", "Limite de gasto (créditos)"],
    SpendPeriod => ["Periodo del tope", "Spend period", "Période du plafond", "Zeitraum des Limits", "Periodo del tetto", "Período do limite"],
    Metadata => ["Metadatos (objeto JSON)", "Metadata (JSON object)", "Métadonnées (objet JSON)", "Metadaten (JSON-Objekt)", "Metadati (oggetto JSON)", "Metadados (objeto JSON)"],
    Optional => ["opcional", "optional", "facultatif", "optional", "facoltativo", "opcional"],
    Create => ["Crear", "Create", "Créer", "Erstellen", "Crea", "Criar"],
    Copy => ["Copiar", "Copy", "Copier", "Kopieren", "Copia", "Copiar"],
    ShownOnce => ["Esta es la única vez que se muestra la clave. Guárdala ahora.", "This is the only time the key is shown. Store it now.", "C'est la seule fois que la clé est affichée. Enregistrez-la maintenant.", "Der Schlüssel wird nur dieses eine Mal angezeigt. Speichere ihn jetzt.", "È l'unica volta che la chiave viene mostrata. Salvala adesso.", "É a única vez que a chave é mostrada. Guarde-a agora."],
    NewKey => ["Tu nueva clave", "Your new key", "Votre nouvelle clé", "Dein neuer Schlüssel", "La tua nuova chiave", "A sua nova chave"],
    BackToKeys => ["Volver a las claves", "Back to keys", "Retour aux clés", "Zurück zu den Schlüsseln", "Torna alle chiavi", "Voltar às chaves"],
    Limits => ["Límites", "Limits", "Limites", "Limits", "Limiti", "Limites"],
    Save => ["Guardar", "Save", "Enregistrer", "Speichern", "Salva", "Guardar"],
    CallsToday => ["Llamadas hoy", "Calls today", "Appels aujourd'hui", "Aufrufe heute", "Chiamate oggi", "Chamadas hoje"],
    CallsWeek => ["Esta semana", "This week", "Cette semaine", "Diese Woche", "Questa settimana", "Esta semana"],
    CallsMonth => ["Este mes", "This month", "Ce mois-ci", "Diesen Monat", "Questo mese", "Este mês"],
    SuccessRate => ["Tasa de éxito", "Success rate", "Taux de réussite", "Erfolgsquote", "Tasso di successo", "Taxa de sucesso"],
    CreditsPeriod => ["Créditos en el periodo", "Credits this period", "Crédits sur la période", "Credits im Zeitraum", "Crediti nel periodo", "Créditos no período"],
    Resets => ["se reinicia", "resets", "réinitialisé le", "setzt zurück am", "si azzera il", "reinicia em"],
    CallsPerDay => ["Llamadas por día (30 días)", "Calls per day (30 days)", "Appels par jour (30 jours)", "Aufrufe pro Tag (30 Tage)", "Chiamate al giorno (30 giorni)", "Chamadas por dia (30 dias)"],
    Errors => ["errores", "errors", "erreurs", "Fehler", "errori", "erros"],
    Successes => ["correctas", "successful", "réussies", "erfolgreich", "riuscite", "bem-sucedidas"],
    ByEndpoint => ["Por endpoint", "By endpoint", "Par point d'accès", "Nach Endpunkt", "Per endpoint", "Por endpoint"],
    ByStatus => ["Por estado HTTP", "By HTTP status", "Par statut HTTP", "Nach HTTP-Status", "Per stato HTTP", "Por estado HTTP"],
    ByVariant => ["Por variante", "By variant", "Par variante", "Nach Variante", "Per variante", "Por variante"],
    Calls => ["Llamadas", "Calls", "Appels", "Aufrufe", "Chiamate", "Chamadas"],
    Credits => ["Créditos", "Credits", "Crédits", "Credits", "Crediti", "Créditos"],
    RecentCalls => ["Llamadas recientes", "Recent calls", "Appels récents", "Letzte Aufrufe", "Chiamate recenti", "Chamadas recentes"],
    Refresh => ["Actualizar", "Refresh", "Actualiser", "Aktualisieren", "Aggiorna", "Atualizar"],
    When => ["Cuándo", "When", "Quand", "Wann", "Quando", "Quando"],
    Route => ["Ruta", "Route", "Route", "Route", "Percorso", "Rota"],
    Duration => ["Duración (ms)", "Duration (ms)", "Durée (ms)", "Dauer (ms)", "Durata (ms)", "Duração (ms)"],
    NoCalls => ["Aún no hay llamadas.", "No calls yet.", "Aucun appel pour l'instant.", "Noch keine Aufrufe.", "Ancora nessuna chiamata.", "Ainda não há chamadas."],
    Disable => ["Desactivar", "Disable", "Désactiver", "Deaktivieren", "Disattiva", "Desativar"],
    Enable => ["Activar", "Enable", "Activer", "Aktivieren", "Attiva", "Ativar"],
    Rotate => ["Rotar", "Rotate", "Renouveler", "Rotieren", "Ruota", "Rodar"],
    GraceSeconds => ["Periodo de gracia de la clave antigua (segundos)", "Grace period of the old key (seconds)", "Délai de grâce de l'ancienne clé (secondes)", "Übergangszeit des alten Schlüssels (Sekunden)", "Periodo di tolleranza della vecchia chiave (secondi)", "Período de graça da chave antiga (segundos)"],
    Revoke => ["Revocar", "Revoke", "Révoquer", "Widerrufen", "Revoca", "Revogar"],
    RevokeConfirm => ["¿Revocar esta clave? Deja de funcionar al instante y no se puede restaurar.", "Revoke this key? It stops working at once and cannot be restored.", "Révoquer cette clé ? Elle cesse de fonctionner aussitôt et ne peut pas être restaurée.", "Diesen Schlüssel widerrufen? Er funktioniert sofort nicht mehr und kann nicht wiederhergestellt werden.", "Revocare questa chiave? Smette subito di funzionare e non può essere ripristinata.", "Revogar esta chave? Deixa de funcionar imediatamente e não pode ser restaurada."],
    Cancel => ["Cancelar", "Cancel", "Annuler", "Abbrechen", "Annulla", "Cancelar"],
    Actions => ["Acciones", "Actions", "Actions", "Aktionen", "Azioni", "Ações"],
    Plan => ["Plan", "Plan", "Offre", "Tarif", "Piano", "Plano"],
    MaxKeys => ["Claves activas como máximo", "Active keys at most", "Clés actives au maximum", "Höchstens aktive Schlüssel", "Chiavi attive al massimo", "Chaves ativas no máximo"],
    UsageIn => ["Uso del mes", "Usage in", "Utilisation en", "Nutzung im", "Utilizzo in", "Uso em"],
    Show => ["Mostrar", "Show", "Afficher", "Anzeigen", "Mostra", "Mostrar"],
    Total => ["Total", "Total", "Total", "Gesamt", "Totale", "Total"],
    Snapshots => ["Instantáneas del gemelo", "Twin snapshots", "Instantanés du jumeau", "Zwilling-Snapshots", "Istantanee del gemello", "Instantâneos do gémeo"],
    Version => ["Versión", "Version", "Version", "Version", "Versione", "Versão"],
    NoSnapshots => ["Aún no hay instantáneas.", "No snapshots yet.", "Aucun instantané pour l'instant.", "Noch keine Snapshots.", "Ancora nessuna istantanea.", "Ainda não há instantâneos."],
    YourWebhooks => ["Tus webhooks", "Your webhooks", "Vos webhooks", "Deine Webhooks", "I tuoi webhook", "Os seus webhooks"],
    NoWebhooks => ["Aún no hay webhooks.", "No webhooks yet.", "Aucun webhook pour l'instant.", "Noch keine Webhooks.", "Ancora nessun webhook.", "Ainda não há webhooks."],
    AddWebhook => ["Añadir webhook", "Add webhook", "Ajouter un webhook", "Webhook hinzufügen", "Aggiungi webhook", "Adicionar webhook"],
    Url => ["URL (https)", "URL (https)", "URL (https)", "URL (https)", "URL (https)", "URL (https)"],
    Description => ["Descripción", "Description", "Description", "Beschreibung", "Descrizione", "Descrição"],
    Events => ["Eventos", "Events", "Événements", "Ereignisse", "Eventi", "Eventos"],
    AllEvents => ["todos los eventos (*)", "all events (*)", "tous les événements (*)", "alle Ereignisse (*)", "tutti gli eventi (*)", "todos os eventos (*)"],
    SigningSecret => ["Secreto de firma (se muestra solo ahora; guárdalo)", "Signing secret (shown only now; store it)", "Secret de signature (affiché seulement maintenant ; conservez-le)", "Signaturgeheimnis (nur jetzt angezeigt; speichere es)", "Segreto di firma (mostrato solo ora; conservalo)", "Segredo de assinatura (mostrado só agora; guarde-o)"],
    FailingDisabled => ["desactivado tras 3 días de fallos", "disabled after 3 days of failures", "désactivé après 3 jours d'échecs", "nach 3 Tagen Fehlern deaktiviert", "disattivato dopo 3 giorni di errori", "desativado após 3 dias de falhas"],
    Deliveries => ["Entregas", "Deliveries", "Livraisons", "Zustellungen", "Consegne", "Entregas"],
    NoDeliveries => ["Aún no hay entregas.", "No deliveries yet.", "Aucune livraison pour l'instant.", "Noch keine Zustellungen.", "Ancora nessuna consegna.", "Ainda não há entregas."],
    Attempts => ["Intentos", "Attempts", "Tentatives", "Versuche", "Tentativi", "Tentativas"],
    LastCode => ["Último código", "Last code", "Dernier code", "Letzter Code", "Ultimo codice", "Último código"],
    NextAttempt => ["Próximo intento", "Next attempt", "Prochaine tentative", "Nächster Versuch", "Prossimo tentativo", "Próxima tentativa"],
    Redeliver => ["Reenviar", "Redeliver", "Renvoyer", "Erneut zustellen", "Reinvia", "Reenviar"],
    SendPing => ["Enviar evento de prueba", "Send test event", "Envoyer un événement de test", "Testereignis senden", "Invia evento di prova", "Enviar evento de teste"],
    Delete => ["Eliminar", "Delete", "Supprimer", "Löschen", "Elimina", "Eliminar"],
    Older => ["Más antiguas", "Older", "Plus anciennes", "Ältere", "Più vecchie", "Mais antigas"],
    SignIn => ["Iniciar sesión", "Sign in", "Se connecter", "Anmelden", "Accedi", "Entrar"],
    SignInTitle => ["Inicia sesión en tu panel de Twin API", "Sign in to your Twin API dashboard", "Connectez-vous à votre tableau de bord Twin API", "Melde dich bei deinem Twin-API-Dashboard an", "Accedi alla tua dashboard di Twin API", "Entre no seu painel da Twin API"],
    SignInExplain => ["Este enlace de un solo uso inicia tu sesión en este dispositivo. Funciona una vez, durante 15 minutos desde que se emitió.", "This one-time link signs you in on this device. It works once, within 15 minutes of being issued.", "Ce lien à usage unique vous connecte sur cet appareil. Il fonctionne une fois, dans les 15 minutes suivant son émission.", "Dieser Einmal-Link meldet dich auf diesem Gerät an. Er funktioniert einmal, innerhalb von 15 Minuten nach der Ausstellung.", "Questo link monouso ti fa accedere da questo dispositivo. Funziona una volta, entro 15 minuti dall'emissione.", "Este link de uso único inicia a sua sessão neste dispositivo. Funciona uma vez, até 15 minutos após ser emitido."],
    LinkInvalid => ["Este enlace de inicio de sesión no es válido. Pide uno nuevo a tu operador.", "This sign-in link is not valid. Ask your operator for a new one.", "Ce lien de connexion n'est pas valide. Demandez-en un nouveau à votre opérateur.", "Dieser Anmeldelink ist ungültig. Bitte deinen Betreiber um einen neuen.", "Questo link di accesso non è valido. Chiedine uno nuovo al tuo operatore.", "Este link de início de sessão não é válido. Peça um novo ao seu operador."],
    SignedOut => ["Has cerrado la sesión.", "You are signed out.", "Vous êtes déconnecté.", "Du bist abgemeldet.", "Sei uscito.", "Terminou a sessão."],
    AskForLink => ["Para volver a entrar, pide a tu operador un enlace de inicio de sesión.", "To sign in again, ask your operator for a sign-in link.", "Pour vous reconnecter, demandez un lien de connexion à votre opérateur.", "Um dich erneut anzumelden, bitte deinen Betreiber um einen Anmeldelink.", "Per accedere di nuovo, chiedi al tuo operatore un link di accesso.", "Para voltar a entrar, peça ao seu operador um link de início de sessão."],
    Problem => ["No se pudo hacer", "That did not work", "Cela n'a pas fonctionné", "Das hat nicht geklappt", "Non è stato possibile", "Não foi possível"],
    Saved => ["Guardado.", "Saved.", "Enregistré.", "Gespeichert.", "Salvato.", "Guardado."],
    Details => ["Detalles", "Details", "Détails", "Details", "Dettagli", "Detalhes"],
    Expires => ["Caduca", "Expires", "Expire", "Läuft ab", "Scade", "Expira"],
    Live => ["producción (live)", "live", "production (live)", "Produktion (live)", "produzione (live)", "produção (live)"],
    Test => ["pruebas (test)", "test", "test", "Test", "test", "teste"],
    NotShownAgain => ["La clave se mostró una vez y no se vuelve a mostrar. Si no la guardaste, rótala para obtener una nueva.", "The key was shown once and is not shown again. If you did not store it, rotate it to get a new one.", "La clé a été affichée une fois et ne l'est plus. Si vous ne l'avez pas enregistrée, renouvelez-la pour en obtenir une nouvelle.", "Der Schlüssel wurde einmal angezeigt und wird nicht erneut angezeigt. Wenn du ihn nicht gespeichert hast, rotiere ihn, um einen neuen zu erhalten.", "La chiave è stata mostrata una volta e non viene mostrata di nuovo. Se non l'hai salvata, ruotala per ottenerne una nuova.", "A chave foi mostrada uma vez e não volta a ser mostrada. Se não a guardou, rode-a para obter uma nova."],
    Alerts => ["Alertas (a tus webhooks)", "Alerts (sent to your webhooks)", "Alertes (envoyées à vos webhooks)", "Warnungen (an deine Webhooks)", "Avvisi (inviati ai tuoi webhook)", "Alertas (enviados aos seus webhooks)"],
    AlertThresholds => ["Avisar al llegar a estos % de la cuota y del tope", "Alert at these % of the quota and spend cap", "Alerter à ces % du quota et du plafond", "Warnen bei diesen % von Kontingent und Limit", "Avvisa a queste % di quota e tetto", "Alertar nestas % da quota e do limite"],
    CommaSeparated => ["separados por comas; vacío: ninguno", "comma-separated; empty for none", "séparés par des virgules ; vide : aucun", "durch Kommas getrennt; leer: keine", "separati da virgole; vuoto: nessuno", "separados por vírgulas; vazio: nenhum"],
    HighUsage => ["Uso alto: más llamadas que", "High usage: more calls than", "Usage élevé : plus d'appels que", "Hohe Nutzung: mehr Aufrufe als", "Uso elevato: più chiamate di", "Uso elevado: mais chamadas do que"],
    ManyFailures => ["Fallos: más respuestas 4xx/5xx que", "Failures: more 4xx/5xx answers than", "Échecs : plus de réponses 4xx/5xx que", "Fehler: mehr 4xx/5xx-Antworten als", "Errori: più risposte 4xx/5xx di", "Falhas: mais respostas 4xx/5xx do que"],
    EmptyForNone => ["vacío: sin alerta", "empty for no alert", "vide : pas d'alerte", "leer: keine Warnung", "vuoto: nessun avviso", "vazio: sem alerta"],
    Per => ["por", "per", "par", "pro", "per", "por"],
    Hour => ["hora", "hour", "heure", "Stunde", "ora", "hora"],
    Day => ["día", "day", "jour", "Tag", "giorno", "dia"],
    UnusualActivity => ["Actividad inusual: una hora con más de 10 veces la media de la semana (y al menos 100 llamadas)", "Unusual activity: an hour above 10 times the week's hourly average (and at least 100 calls)", "Activité inhabituelle : une heure au-delà de 10 fois la moyenne horaire de la semaine (et au moins 100 appels)", "Ungewöhnliche Aktivität: eine Stunde über dem 10-Fachen des Stundenmittels der Woche (und mindestens 100 Aufrufe)", "Attività insolita: un'ora oltre 10 volte la media oraria della settimana (e almeno 100 chiamate)", "Atividade invulgar: uma hora acima de 10 vezes a média horária da semana (e pelo menos 100 chamadas)"],
    EditWebhook => ["Editar webhook", "Edit webhook", "Modifier le webhook", "Webhook bearbeiten", "Modifica webhook", "Editar webhook"],
    RotateSecret => ["Rotar el secreto de firma", "Rotate signing secret", "Renouveler le secret de signature", "Signaturgeheimnis rotieren", "Ruota il segreto di firma", "Rodar o segredo de assinatura"],
    RotateSecretExplain => ["Se crea un secreto nuevo y se muestra una vez. El anterior sigue firmando durante 24 horas para que tu receptor pueda cambiar sin perder eventos.", "A new secret is made and shown once. The old one keeps signing for 24 hours, so your receiver can switch without losing events.", "Un nouveau secret est créé et affiché une fois. L'ancien continue de signer pendant 24 heures, pour que votre récepteur change sans perdre d'événements.", "Ein neues Geheimnis wird erstellt und einmal angezeigt. Das alte signiert noch 24 Stunden weiter, damit dein Empfänger ohne Ereignisverlust wechseln kann.", "Viene creato un nuovo segreto, mostrato una volta. Il precedente continua a firmare per 24 ore, così il ricevitore può passare senza perdere eventi.", "É criado um segredo novo, mostrado uma vez. O anterior continua a assinar durante 24 horas, para o recetor mudar sem perder eventos."],
    DeleteWebhookExplain => ["Se elimina el endpoint y su registro de entregas; los eventos aún no entregados se pierden. No se puede deshacer.", "The endpoint and its delivery log are deleted; events not yet delivered are dropped. This cannot be undone.", "Le point de terminaison et son journal de livraisons sont supprimés ; les événements non livrés sont perdus. Action irréversible.", "Der Endpunkt und sein Zustellprotokoll werden gelöscht; noch nicht zugestellte Ereignisse gehen verloren. Das lässt sich nicht rückgängig machen.", "L'endpoint e il suo registro delle consegne vengono eliminati; gli eventi non ancora consegnati vanno persi. Non si può annullare.", "O endpoint e o seu registo de entregas são eliminados; os eventos ainda não entregues perdem-se. Não pode ser desfeito."],
    ConnectApp => ["Conectar una aplicación", "Connect an app", "Connecter une application", "Eine App verbinden", "Collega un'app", "Ligar uma aplicação"],
    WantsAccess => ["pide acceso a tu gemelo con estos permisos:", "asks for access to your twin with these scopes:", "demande l'accès à votre jumeau avec ces portées :", "bittet mit diesen Berechtigungen um Zugriff auf deinen Zwilling:", "chiede l'accesso al tuo gemello con questi permessi:", "pede acesso ao seu gémeo com estas permissões:"],
    ScopeTwinRead => ["leer tu gemelo (perfil y presets)", "read your twin (profile and presets)", "lire votre jumeau (profil et presets)", "deinen Zwilling lesen (Profil und Presets)", "leggere il tuo gemello (profilo e preset)", "ler o seu gémeo (perfil e presets)"],
    ScopeAccountRead => ["leer tu cuenta (plan y uso)", "read your account (plan and usage)", "lire votre compte (offre et usage)", "dein Konto lesen (Tarif und Nutzung)", "leggere il tuo account (piano e uso)", "ler a sua conta (plano e uso)"],
    ConsentExplain => ["Si apruebas, la aplicación recibe un token que puedes revocar cuando quieras en Aplicaciones conectadas. Volverás a:", "If you approve, the app gets a token you can revoke at any time under Connected apps. You will return to:", "Si vous approuvez, l'application reçoit un jeton que vous pouvez révoquer à tout moment dans Applications connectées. Vous reviendrez à :", "Wenn du zustimmst, erhält die App ein Token, das du jederzeit unter Verbundene Apps widerrufen kannst. Du kehrst zurück zu:", "Se approvi, l'app riceve un token che puoi revocare in qualsiasi momento in App collegate. Tornerai a:", "Se aprovar, a aplicação recebe um token que pode revogar a qualquer momento em Aplicações ligadas. Voltará a:"],
    Approve => ["Aprobar", "Approve", "Approuver", "Zustimmen", "Approva", "Aprovar"],
    Deny => ["Rechazar", "Deny", "Refuser", "Ablehnen", "Rifiuta", "Recusar"],
    SignInToConsent => ["Inicia sesión en tu panel con el enlace de inicio de sesión de tu operador; después volverás aquí para decidir.", "Sign in to your dashboard with your operator's sign-in link; you will come back here to decide.", "Connectez-vous à votre tableau de bord avec le lien de connexion de votre opérateur ; vous reviendrez ici pour décider.", "Melde dich mit dem Anmeldelink deines Betreibers bei deinem Dashboard an; danach kommst du hierher zurück, um zu entscheiden.", "Accedi alla dashboard con il link di accesso del tuo operatore; poi tornerai qui per decidere.", "Entre no seu painel com o link de início de sessão do seu operador; depois voltará aqui para decidir."],
    OAuthRefused => ["Esta solicitud no puede continuar y no se te redirige a ninguna parte. Avisa al desarrollador de la aplicación.", "This request cannot go on, and you are not sent anywhere. Tell the app's developer.", "Cette demande ne peut pas aboutir et vous n'êtes redirigé nulle part. Prévenez le développeur de l'application.", "Diese Anfrage kann nicht fortgesetzt werden, und du wirst nirgendwohin weitergeleitet. Sag es dem Entwickler der App.", "Questa richiesta non può proseguire e non vieni reindirizzato da nessuna parte. Avvisa lo sviluppatore dell'app.", "Este pedido não pode continuar e não é redirecionado para lado nenhum. Avise o programador da aplicação."],
    NoApps => ["Aún no has conectado ninguna aplicación.", "No apps connected yet.", "Aucune application connectée pour l'instant.", "Noch keine Apps verbunden.", "Nessuna app collegata finora.", "Ainda não ligou nenhuma aplicação."],
    App => ["Aplicación", "App", "Application", "App", "App", "Aplicação"],
    Granted => ["Concedido", "Granted", "Accordé", "Erteilt", "Concesso", "Concedido"],
    RevokeAppConfirm => ["¿Revocar el acceso de esta aplicación? Sus tokens dejan de funcionar al instante; tendrá que pedir tu permiso de nuevo.", "Revoke this app's access? Its tokens stop working at once; it will have to ask for your consent again.", "Révoquer l'accès de cette application ? Ses jetons cessent aussitôt de fonctionner ; elle devra redemander votre accord.", "Den Zugriff dieser App widerrufen? Ihre Tokens funktionieren sofort nicht mehr; sie muss erneut um deine Zustimmung bitten.", "Revocare l'accesso di questa app? I suoi token smettono subito di funzionare; dovrà chiedere di nuovo il tuo consenso.", "Revogar o acesso desta aplicação? Os seus tokens deixam de funcionar imediatamente; terá de pedir de novo o seu consentimento."],
    Unlimited => ["sin límite", "unlimited", "illimité", "unbegrenzt", "illimitato", "ilimitado"],
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_language_picks_the_best_supported_language() {
        assert_eq!(from_accept_language("de-CH, fr;q=0.9"), Lang::De);
        assert_eq!(from_accept_language("ja, pt-BR;q=0.5, en;q=0.4"), Lang::Pt);
        assert_eq!(from_accept_language("fr;q=0.2, it;q=0.8"), Lang::It);
        assert_eq!(from_accept_language("ja"), Lang::En);
        assert_eq!(from_accept_language(""), Lang::En);
        assert_eq!(from_accept_language("es;q=0"), Lang::En);
    }

    #[test]
    fn every_message_has_six_non_empty_texts() {
        for lang in Lang::ALL {
            assert!(!Msg::SignIn.t(*lang).is_empty());
            assert!(!Msg::Unlimited.t(*lang).is_empty());
        }
        assert_eq!(Msg::Keys.t(Lang::De), "Schlüssel");
    }
}
