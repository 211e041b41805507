//! Server configuration: built-in defaults, then an optional YAML file, then the
//! environment (`TWIN_*`), each overriding the one before.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::Deserialize;
use twin_core::prices::Prices;
use twin_keys::{KeyHasher, Pepper};
use twin_meter::plans::{Plan, PlanCatalog};
use twin_render::PresetCatalog;

/// The default embedded database: `./twin.db`.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://twin.db";
/// The default listen address.
pub const DEFAULT_BIND: &str = "127.0.0.1:8080";

/// The optional configuration file's shape (every field optional).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct FileConfig {
    database_url: Option<String>,
    bind: Option<String>,
    admin_tokens: Option<Vec<String>>,
    key_pepper: Option<String>,
    key_pepper_version: Option<u32>,
    retired_peppers: Option<Vec<RetiredPepper>>,
    presets: Option<PathBuf>,
    plans: Option<Vec<Plan>>,
    log: Option<String>,
    log_format: Option<String>,
    workers: Option<usize>,
    max_connections: Option<usize>,
    prices: Option<std::collections::BTreeMap<String, String>>,
    usage_retention_days: Option<u32>,
    public_url: Option<String>,
    trusted_proxies: Option<Vec<String>>,
    webhooks_allow_private: Option<bool>,
    webhooks_retry_schedule: Option<String>,
    alerts_sweep_interval: Option<String>,
    oauth_registration: Option<String>,
    oauth_access_token_ttl: Option<String>,
    oauth_refresh_token_ttl: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RetiredPepper {
    version: u32,
    secret: String,
}

/// The resolved configuration.
pub struct Config {
    pub database_url: String,
    pub bind: String,
    pub admin_tokens: Vec<String>,
    pub hasher: KeyHasher,
    pub presets: PresetCatalog,
    pub plans: PlanCatalog,
    pub log: String,
    pub log_json: bool,
    pub workers: Option<usize>,
    pub max_connections: usize,
    pub prices: Prices,
    pub usage_retention_days: u32,
    /// The base of every URL the server hands out; `None`: `http://<bind>`.
    pub public_url: Option<twin_http::PublicUrl>,
    /// The peers whose forwarded headers count.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Webhook delivery (SPEC §15).
    pub webhooks: twin_core::webhooks::WebhookSettings,
    pub oauth: twin_core::oauth::OAuthSettings,
}

/// A duration such as `10s`, `1m`, `2h`, `3d` or `500ms`.
fn parse_duration(text: &str) -> Result<std::time::Duration> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .context("a duration needs a unit (ms, s, m, h, d)")?;
    let (number, unit) = text.split_at(split);
    let n: u64 = number
        .parse()
        .context("a duration starts with a whole number")?;
    let ms = match unit {
        "ms" => n,
        "s" => n * 1000,
        "m" => n * 60_000,
        "h" => n * 3_600_000,
        "d" => n * 86_400_000,
        _ => bail!("unknown duration unit {unit:?} (ms, s, m, h, d)"),
    };
    Ok(std::time::Duration::from_millis(ms))
}

fn parse_bool(name: &str, text: &str) -> Result<bool> {
    match text.trim() {
        "true" | "1" | "yes" => Ok(true),
        "false" | "0" | "no" => Ok(false),
        other => bail!("{name} must be true or false, not {other:?}"),
    }
}

impl std::fmt::Debug for Config {
    // Secrets (admin tokens, peppers, a database password) never reach a log line.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("bind", &self.bind)
            .field("admin_tokens", &self.admin_tokens.len())
            .field("log", &self.log)
            .finish_non_exhaustive()
    }
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

impl Config {
    /// The base of the URLs the CLI prints: `TWIN_PUBLIC_URL`, else `http://<bind>`.
    pub fn base_url(&self) -> String {
        self.public_url
            .as_ref()
            .map_or_else(|| format!("http://{}", self.bind), |u| u.base().to_owned())
    }

    /// Loads the configuration from `file` (if any) and the environment.
    pub fn load(file: Option<&Path>) -> Result<Config> {
        let file_config: FileConfig = match file {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("reading config file {}", path.display()))?;
                yaml_serde::from_str(&text)
                    .with_context(|| format!("parsing config file {}", path.display()))?
            }
            None => FileConfig::default(),
        };

        let database_url = env("TWIN_DATABASE_URL")
            .or(file_config.database_url)
            .unwrap_or_else(|| DEFAULT_DATABASE_URL.into());
        let bind = env("TWIN_BIND")
            .or(file_config.bind)
            .unwrap_or_else(|| DEFAULT_BIND.into());
        // Several admin tokens may be valid at once so they can be rotated without downtime.
        let admin_tokens: Vec<String> = match env("TWIN_ADMIN_TOKEN") {
            Some(list) => list
                .split(',')
                .map(|t| t.trim().to_owned())
                .filter(|t| !t.is_empty())
                .collect(),
            None => file_config.admin_tokens.unwrap_or_default(),
        };
        if let Some(short) = admin_tokens.iter().find(|t| t.len() < 16) {
            bail!(
                "admin tokens must be at least 16 characters (one has {})",
                short.len()
            );
        }

        let pepper_version = match env("TWIN_KEY_PEPPER_VERSION") {
            Some(v) => v
                .parse()
                .context("TWIN_KEY_PEPPER_VERSION must be a positive integer")?,
            None => file_config.key_pepper_version.unwrap_or(1),
        };
        let mut hasher = match env("TWIN_KEY_PEPPER").or(file_config.key_pepper) {
            Some(secret) => KeyHasher::with_pepper(
                Pepper::new(pepper_version, secret.as_bytes()).context("TWIN_KEY_PEPPER")?,
            ),
            None => KeyHasher::sha256(),
        };
        for retired in file_config.retired_peppers.unwrap_or_default() {
            hasher = hasher
                .with_retired(Pepper::new(retired.version, retired.secret.as_bytes())?)
                .context("retiredPeppers")?;
        }
        if let Some(list) = env("TWIN_KEY_PEPPERS_RETIRED") {
            for item in list.split(',').filter(|s| !s.is_empty()) {
                let (version, secret) = item
                    .split_once(':')
                    .context("TWIN_KEY_PEPPERS_RETIRED items are VERSION:SECRET")?;
                let version: u32 = version.trim().parse().context("pepper version")?;
                hasher = hasher
                    .with_retired(Pepper::new(version, secret.as_bytes())?)
                    .context("TWIN_KEY_PEPPERS_RETIRED")?;
            }
        }

        let presets_path = env("TWIN_PRESETS")
            .map(PathBuf::from)
            .or(file_config.presets);
        let presets = match presets_path {
            Some(path) => {
                let text = std::fs::read_to_string(&path)
                    .with_context(|| format!("reading presets file {}", path.display()))?;
                PresetCatalog::from_yaml(&text)
                    .with_context(|| format!("loading presets from {}", path.display()))?
            }
            None => PresetCatalog::builtin(),
        };

        let plans = match env("TWIN_PLANS") {
            Some(path) => {
                let text = std::fs::read_to_string(&path)
                    .with_context(|| format!("reading plans file {path}"))?;
                let plans: Vec<Plan> = yaml_serde::from_str(&text)
                    .with_context(|| format!("parsing plans file {path}"))?;
                PlanCatalog { plans }.validate()?
            }
            None => match file_config.plans {
                Some(plans) => PlanCatalog { plans }.validate()?,
                None => PlanCatalog::builtin(),
            },
        };

        let log = env("TWIN_LOG")
            .or(file_config.log)
            .unwrap_or_else(|| "info".into());
        let log_json = env("TWIN_LOG_FORMAT").or(file_config.log_format).as_deref() == Some("json");
        let workers = match env("TWIN_WORKERS") {
            Some(v) => Some(
                v.parse()
                    .context("TWIN_WORKERS must be a positive integer")?,
            ),
            None => file_config.workers,
        };
        let max_connections = match env("TWIN_DB_MAX_CONNECTIONS") {
            Some(v) => v
                .parse()
                .context("TWIN_DB_MAX_CONNECTIONS must be a positive integer")?,
            None => file_config.max_connections.unwrap_or(16),
        };
        // Prices: built-in defaults, then the file's `prices:` map, then TWIN_PRICES
        // (`preset=1,me=0.25`).
        let mut prices = Prices::default();
        for (name, amount) in file_config.prices.unwrap_or_default() {
            prices
                .set(&name, &amount)
                .context("prices in the config file")?;
        }
        if let Some(list) = env("TWIN_PRICES") {
            for item in list.split(',').filter(|s| !s.trim().is_empty()) {
                let (name, amount) = item
                    .split_once('=')
                    .context("TWIN_PRICES items are NAME=CREDITS")?;
                prices
                    .set(name.trim(), amount.trim())
                    .context("TWIN_PRICES")?;
            }
        }
        let usage_retention_days = match env("TWIN_USAGE_RETENTION_DAYS") {
            Some(v) => v
                .parse()
                .context("TWIN_USAGE_RETENTION_DAYS must be a whole number of days")?,
            None => file_config.usage_retention_days.unwrap_or(90),
        };
        let public_url = env("TWIN_PUBLIC_URL")
            .or(file_config.public_url)
            .map(|url| twin_http::PublicUrl::parse(&url))
            .transpose()
            .map_err(|e| anyhow::anyhow!("TWIN_PUBLIC_URL {e}"))?;
        let trusted_proxies = match env("TWIN_TRUSTED_PROXIES") {
            Some(list) => twin_http::WebConfig::parse_proxies(&list),
            None => twin_http::WebConfig::parse_proxies(
                &file_config.trusted_proxies.unwrap_or_default().join(","),
            ),
        }
        .map_err(|e| anyhow::anyhow!("TWIN_TRUSTED_PROXIES: {e}"))?;
        let mut webhooks = twin_core::webhooks::WebhookSettings {
            allow_private: match env("TWIN_WEBHOOKS_ALLOW_PRIVATE") {
                Some(v) => parse_bool("TWIN_WEBHOOKS_ALLOW_PRIVATE", &v)?,
                None => file_config.webhooks_allow_private.unwrap_or(false),
            },
            ..Default::default()
        };
        if let Some(list) =
            env("TWIN_WEBHOOKS_RETRY_SCHEDULE").or(file_config.webhooks_retry_schedule)
        {
            webhooks.retry_schedule = list
                .split(',')
                .filter(|s| !s.trim().is_empty())
                .map(parse_duration)
                .collect::<Result<_>>()
                .context("TWIN_WEBHOOKS_RETRY_SCHEDULE (e.g. 10s,1m,5m,30m,2h,6h,12h)")?;
        }
        if let Some(every) = env("TWIN_ALERTS_SWEEP_INTERVAL").or(file_config.alerts_sweep_interval)
        {
            webhooks.sweep_interval = parse_duration(&every)
                .context("TWIN_ALERTS_SWEEP_INTERVAL")?
                .max(std::time::Duration::from_millis(100));
        }
        let mut oauth = twin_core::oauth::OAuthSettings::default();
        match env("TWIN_OAUTH_REGISTRATION")
            .or(file_config.oauth_registration)
            .as_deref()
        {
            None | Some("closed") => {}
            Some("open") => oauth.registration_open = true,
            Some(other) => {
                anyhow::bail!("TWIN_OAUTH_REGISTRATION must be open or closed, not {other:?}")
            }
        }
        if let Some(ttl) = env("TWIN_OAUTH_ACCESS_TOKEN_TTL").or(file_config.oauth_access_token_ttl)
        {
            oauth.access_ttl = parse_duration(&ttl)
                .context("TWIN_OAUTH_ACCESS_TOKEN_TTL (e.g. 1h)")?
                .max(std::time::Duration::from_secs(1));
        }
        if let Some(ttl) =
            env("TWIN_OAUTH_REFRESH_TOKEN_TTL").or(file_config.oauth_refresh_token_ttl)
        {
            oauth.refresh_ttl = parse_duration(&ttl)
                .context("TWIN_OAUTH_REFRESH_TOKEN_TTL (e.g. 30d)")?
                .max(std::time::Duration::from_secs(1));
        }
        Ok(Config {
            oauth,
            webhooks,
            public_url,
            trusted_proxies,
            prices,
            usage_retention_days,
            database_url,
            bind,
            admin_tokens,
            hasher,
            presets,
            plans,
            log,
            log_json,
            workers,
            max_connections,
        })
    }
}
