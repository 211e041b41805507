//! The outbox's dispatcher: every replica runs one. It claims due deliveries (each claimed
//! by one replica at a time, see [`twin_store::Store::claim_deliveries`]), signs them as
//! Standard Webhooks (`webhook-id`, `webhook-timestamp`, `webhook-signature`, with the
//! `standardwebhooks` crate) and posts them: a 2xx answer within the timeout is success;
//! anything else is retried on [`WebhookSettings::retry_schedule`] with ±20 % jitter (a
//! longer `Retry-After` wins), and an endpoint that keeps failing for
//! [`WebhookSettings::disable_after`] is disabled. No redirect is followed; at most 1 KiB of
//! an answer is kept.
//!
//! Deliveries of one endpoint are attempted one after another in the order of their events;
//! different endpoints in parallel. When a delivery succeeds, the endpoint's waiting
//! deliveries become due at once, so a receiver that comes back gets its backlog right away
//! and in order.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rand::Rng;
use twin_meter::Clock;
use twin_store::Store;
use twin_store::webhooks::{AttemptOutcome, ClaimedDelivery};

use super::WebhookSettings;
use super::ssrf::{GuardedResolver, is_forbidden};

/// At most this much of an answer's body is kept in the delivery log.
pub const KEPT_RESPONSE_BYTES: usize = 1024;

/// How many due deliveries one claim takes.
const BATCH: i64 = 32;

/// This replica's delivery counters, for metrics.
#[derive(Debug, Default)]
pub struct DeliveryStats {
    /// Attempts answered 2xx.
    pub succeeded: AtomicU64,
    /// Attempts that failed and will be retried.
    pub retried: AtomicU64,
    /// Deliveries given up after the last attempt of the schedule.
    pub gave_up: AtomicU64,
    /// Endpoints disabled after failing for too long.
    pub endpoints_disabled: AtomicU64,
}

/// Delivers the outbox of one replica.
pub struct Dispatcher {
    store: Store,
    settings: WebhookSettings,
    clock: Arc<dyn Clock>,
    stats: Arc<DeliveryStats>,
    client: reqwest::Client,
}

impl std::fmt::Debug for Dispatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dispatcher").finish_non_exhaustive()
    }
}

/// Starts `core`'s dispatcher on the current runtime.
pub fn spawn(core: &crate::Core) -> tokio::task::JoinHandle<()> {
    let dispatcher = Dispatcher::new(
        core.store.clone(),
        core.webhooks.clone(),
        core.clock.clone(),
        core.webhook_stats.clone(),
    );
    tokio::spawn(dispatcher.run())
}

impl Dispatcher {
    /// A dispatcher over `store`.
    pub fn new(
        store: Store,
        settings: WebhookSettings,
        clock: Arc<dyn Clock>,
        stats: Arc<DeliveryStats>,
    ) -> Self {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(settings.timeout)
            .connect_timeout(settings.timeout)
            .user_agent(concat!("TwinAPI-Webhooks/", env!("CARGO_PKG_VERSION")))
            .dns_resolver(Arc::new(GuardedResolver {
                allow_private: settings.allow_private,
                resolution: settings.resolution.clone(),
            }))
            .build()
            .unwrap_or_default();
        Dispatcher {
            store,
            settings,
            clock,
            stats,
            client,
        }
    }

    /// Runs until the runtime stops: claims and delivers what is due, then waits for a new
    /// event of this process or the poll interval.
    pub async fn run(self) {
        let notify = self.store.event_notifier();
        loop {
            match self.run_once().await {
                Ok(n) if n > 0 => continue,
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "webhook dispatch failed; retrying"),
            }
            let _ = tokio::time::timeout(self.settings.poll_interval, notify.notified()).await;
        }
    }

    /// Claims one batch of due deliveries and makes their attempts; returns how many.
    pub async fn run_once(&self) -> Result<usize, twin_store::StoreError> {
        let claim =
            time::Duration::try_from(self.settings.claim_for).unwrap_or(time::Duration::MINUTE);
        let claimed = self
            .store
            .claim_deliveries(BATCH, self.clock.now() + claim)
            .await?;
        let n = claimed.len();
        let mut by_endpoint: BTreeMap<String, Vec<ClaimedDelivery>> = BTreeMap::new();
        for d in claimed {
            by_endpoint
                .entry(d.endpoint.id.clone())
                .or_default()
                .push(d);
        }
        let runs = by_endpoint.into_values().map(|mut list| async move {
            list.sort_by_key(|d| d.seq);
            let recovering = list.first().is_some_and(|d| d.endpoint.failing_since.is_some());
            let mut rest = list.into_iter();
            for d in rest.by_ref() {
                // The first success of an endpoint that was failing makes its whole backlog
                // due: the rest of this batch goes back so the next claim takes the
                // backlog in event order.
                if self.attempt(d).await && recovering {
                    break;
                }
            }
            let left: Vec<String> = rest.map(|d| d.id).collect();
            if let Err(e) = self.store.release_deliveries(&left).await {
                tracing::warn!(error = %e, "cannot release webhook deliveries; they wait for their claim to end");
            }
        });
        futures_util::future::join_all(runs).await;
        Ok(n)
    }

    /// Makes one attempt and records it; returns whether it succeeded.
    async fn attempt(&self, d: ClaimedDelivery) -> bool {
        let at = self.clock.now();
        let started = Instant::now();
        let result = self.post(&d, at).await;
        let latency_ms = i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX);
        let (status_code, response, error, retry_after) = match result {
            Ok(answer) => (
                Some(answer.status),
                Some(answer.body),
                (!(200..300).contains(&answer.status))
                    .then(|| format!("the receiver answered {}", answer.status)),
                answer.retry_after,
            ),
            Err(e) => (None, None, Some(e), None),
        };
        let success = error.is_none();
        let retry_at = (!success)
            .then(|| self.next_wait(d.attempts, retry_after))
            .flatten()
            .map(|wait| at + time::Duration::try_from(wait).unwrap_or(time::Duration::HOUR));
        let disable_after =
            time::Duration::try_from(self.settings.disable_after).unwrap_or(time::Duration::DAY);
        let outcome = AttemptOutcome {
            at,
            status_code,
            latency_ms,
            success,
            error,
            response,
            retry_at,
            disable_if_failing_since: at - disable_after,
        };
        if success {
            self.stats.succeeded.fetch_add(1, Ordering::Relaxed);
        } else if retry_at.is_some() {
            self.stats.retried.fetch_add(1, Ordering::Relaxed);
        } else {
            self.stats.gave_up.fetch_add(1, Ordering::Relaxed);
        }
        match self
            .store
            .finish_delivery(&d.id, &d.endpoint.id, &outcome)
            .await
        {
            Ok(true) => {
                self.stats
                    .endpoints_disabled
                    .fetch_add(1, Ordering::Relaxed);
                tracing::warn!(endpoint = %d.endpoint.id, "webhook endpoint disabled after failing for too long");
            }
            Ok(false) => {}
            // The claim expires and the delivery is attempted again: at least once.
            Err(e) => {
                tracing::warn!(error = %e, delivery = %d.id, "cannot record a webhook attempt")
            }
        }
        success
    }

    /// The wait before the attempt after `attempts` failed ones (`None`: give up).
    fn next_wait(&self, attempts: i64, retry_after: Option<Duration>) -> Option<Duration> {
        let base = *self
            .settings
            .retry_schedule
            .get(usize::try_from(attempts).ok()?)?;
        let jitter = rand::rng().random_range(0.8..=1.2);
        let wait = base.mul_f64(jitter);
        // A receiver's Retry-After may lengthen a wait (up to a day), never shorten it.
        Some(match retry_after {
            Some(r) => wait.max(r.min(Duration::from_secs(24 * 3600))),
            None => wait,
        })
    }

    async fn post(&self, d: &ClaimedDelivery, at: time::OffsetDateTime) -> Result<Answer, String> {
        let url = reqwest::Url::parse(&d.endpoint.url).map_err(|_| "invalid URL".to_owned())?;
        // An address in the URL itself never goes through the resolver: check it here.
        if !self.settings.allow_private {
            let literal = match url.host() {
                Some(url::Host::Ipv4(ip)) => Some(std::net::IpAddr::V4(ip)),
                Some(url::Host::Ipv6(ip)) => Some(std::net::IpAddr::V6(ip)),
                _ => None,
            };
            if literal.is_some_and(is_forbidden) || url.scheme() != "https" {
                return Err("the URL is not allowed (private address or plain http)".into());
            }
        }
        let timestamp = at.unix_timestamp();
        let mut signatures = Vec::new();
        for secret in d.endpoint.signing_secrets(at) {
            let signer = standardwebhooks::Webhook::new(secret)
                .map_err(|e| format!("bad signing secret: {e}"))?;
            signatures.push(
                signer
                    .sign(&d.event_id, timestamp, d.payload.as_bytes())
                    .map_err(|e| format!("cannot sign: {e}"))?,
            );
        }
        let response = self
            .client
            .post(url)
            .header(standardwebhooks::HEADER_WEBHOOK_ID, &d.event_id)
            .header(
                standardwebhooks::HEADER_WEBHOOK_TIMESTAMP,
                timestamp.to_string(),
            )
            .header(
                standardwebhooks::HEADER_WEBHOOK_SIGNATURE,
                signatures.join(" "),
            )
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(d.payload.clone())
            .send()
            .await
            .map_err(describe)?;
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let body = read_prefix(response).await;
        Ok(Answer {
            status,
            body,
            retry_after,
        })
    }
}

struct Answer {
    status: u16,
    body: String,
    retry_after: Option<Duration>,
}

/// At most [`KEPT_RESPONSE_BYTES`] of the body (cut at a character boundary); the rest is
/// not read.
async fn read_prefix(mut response: reqwest::Response) -> String {
    let mut kept: Vec<u8> = Vec::new();
    while kept.len() < KEPT_RESPONSE_BYTES {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                let room = KEPT_RESPONSE_BYTES - kept.len();
                kept.extend_from_slice(&chunk[..chunk.len().min(room)]);
            }
            _ => break,
        }
    }
    let mut text = String::from_utf8_lossy(&kept).into_owned();
    while text.len() > KEPT_RESPONSE_BYTES {
        text.pop();
    }
    text
}

/// A transport failure in words an owner can act on (no internals).
fn describe(e: reqwest::Error) -> String {
    if e.is_timeout() {
        "no answer within the timeout".into()
    } else if e.is_connect() {
        "could not connect to the receiver".into()
    } else if e.is_redirect() {
        "the receiver answered with a redirect, which is not followed".into()
    } else {
        "the request failed".into()
    }
}
