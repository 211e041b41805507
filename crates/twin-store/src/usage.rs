//! The usage log: raw rows, daily roll-ups, and the key's `lastUsedAt` / `usageCount`, all
//! written together by [`Store::record_usage`] in one transaction per batch.

use std::collections::HashMap;

use diesel::prelude::*;
use diesel::upsert::excluded;
use diesel_async::{AsyncConnection, RunQueryDsl};
use time::OffsetDateTime;

use crate::db::with_conn;
use crate::model::{from_ms, to_ms};
use crate::schema::{usage_daily, usage_log};
use crate::{Store, StoreResult};

const DAY_MS: i64 = 86_400_000;

/// One authenticated request, as logged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageEntry {
    /// Key used.
    pub key_id: String,
    /// Its owner.
    pub owner_id: String,
    /// When the request arrived.
    pub at: OffsetDateTime,
    /// HTTP method.
    pub method: String,
    /// Route template, e.g. `/v1/public/twin/preset/{slug}`.
    pub route: String,
    /// Response status.
    pub status: u16,
    /// Cost in micro-credits.
    pub cost: i64,
    /// Time spent answering, in microseconds.
    pub duration_us: i64,
    /// Prompt variant, for preset requests.
    pub variant: Option<String>,
    /// Output format, for preset requests.
    pub format: Option<String>,
    /// The OAuth client, for a call made with an access token (SPEC §14).
    pub client_id: Option<String>,
}

#[derive(Insertable)]
#[diesel(table_name = usage_log)]
// SQLite has no DEFAULT keyword in multi-row inserts: write NULLs as NULLs.
#[diesel(treat_none_as_default_value = false)]
struct NewUsageRow<'a> {
    key_id: &'a str,
    owner_id: &'a str,
    at: i64,
    method: &'a str,
    route: &'a str,
    status: i32,
    cost: i64,
    duration_us: i64,
    variant: Option<&'a str>,
    format: Option<&'a str>,
    client_id: Option<&'a str>,
}

#[derive(Insertable)]
#[diesel(table_name = usage_daily)]
// As for the raw rows: lets SQLite take many rows per statement.
#[diesel(treat_none_as_default_value = false)]
struct DailyRow {
    key_id: String,
    owner_id: String,
    day: i64,
    route: String,
    status: i32,
    variant: String,
    calls: i64,
    cost: i64,
}

/// A raw row that owns its strings (to move into a blocking task).
struct OwnedUsageRow {
    key_id: String,
    owner_id: String,
    at: i64,
    method: String,
    route: String,
    status: i32,
    cost: i64,
    duration_us: i64,
    variant: Option<String>,
    format: Option<String>,
    client_id: Option<String>,
}

impl OwnedUsageRow {
    fn from(row: &NewUsageRow<'_>) -> Self {
        OwnedUsageRow {
            key_id: row.key_id.to_owned(),
            owner_id: row.owner_id.to_owned(),
            at: row.at,
            method: row.method.to_owned(),
            route: row.route.to_owned(),
            status: row.status,
            cost: row.cost,
            duration_us: row.duration_us,
            variant: row.variant.map(str::to_owned),
            format: row.format.map(str::to_owned),
            client_id: row.client_id.map(str::to_owned),
        }
    }

    fn borrow(&self) -> NewUsageRow<'_> {
        NewUsageRow {
            key_id: &self.key_id,
            owner_id: &self.owner_id,
            at: self.at,
            method: &self.method,
            route: &self.route,
            status: self.status,
            cost: self.cost,
            duration_us: self.duration_us,
            variant: self.variant.as_deref(),
            format: self.format.as_deref(),
            client_id: self.client_id.as_deref(),
        }
    }
}

/// Adds a roll-up row's calls and cost to the stored one (or inserts it). A macro, not a
/// function: the statement's type differs per backend and per (sync/async) API.
macro_rules! upsert_daily {
    ($row:expr) => {
        diesel::insert_into(usage_daily::table)
            .values($row)
            .on_conflict((
                usage_daily::key_id,
                usage_daily::day,
                usage_daily::route,
                usage_daily::status,
                usage_daily::variant,
            ))
            .do_update()
            .set((
                usage_daily::calls.eq(usage_daily::calls + excluded(usage_daily::calls)),
                usage_daily::cost.eq(usage_daily::cost + excluded(usage_daily::cost)),
            ))
    };
}

/// Rows per multi-row statement of a usage batch. SQLite allows 32,766 bound parameters per
/// statement and PostgreSQL 65,535: 500 rows of at most 10 columns stay well under both.
const ROWS_PER_STATEMENT: usize = 500;

/// Adds each key's calls to its use count and sets its last use (Unix ms), for up to
/// [`ROWS_PER_STATEMENT`] keys in one statement. The same text runs on both backends (a CTE
/// of `VALUES` joined with `UPDATE … FROM`, SQLite ≥ 3.33); `$n` parameters are numbered in
/// the order they appear, which is also how SQLite numbers them.
fn touch_keys_sql(n: usize) -> String {
    let mut sql = String::from("WITH v(id, calls, last) AS (VALUES ");
    for i in 0..n {
        if i > 0 {
            sql.push_str(", ");
        }
        let p = 3 * i;
        sql.push_str(&format!(
            "(${}, CAST(${} AS BIGINT), CAST(${} AS BIGINT))",
            p + 1,
            p + 2,
            p + 3
        ));
    }
    sql.push_str(
        ") UPDATE api_keys SET usage_count = api_keys.usage_count + v.calls, \
         last_used_at = v.last FROM v WHERE api_keys.id = v.id",
    );
    sql
}

/// The multi-row key update of [`touch_keys_sql`] with its parameters bound, for backend
/// `$db`. A macro: the boxed query's type differs per backend.
macro_rules! touch_keys {
    ($db:ty, $keys:expr) => {{
        let keys: &[(String, (i64, i64))] = $keys;
        let mut query = diesel::sql_query(touch_keys_sql(keys.len())).into_boxed::<$db>();
        for (key_id, (calls, last)) in keys {
            query = query
                .bind::<diesel::sql_types::Text, _>(key_id.clone())
                .bind::<diesel::sql_types::BigInt, _>(*calls)
                .bind::<diesel::sql_types::BigInt, _>(*last);
        }
        query
    }};
}

#[derive(diesel::QueryableByName)]
struct GroupRow {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    day: i64,
    #[diesel(sql_type = diesel::sql_types::Text)]
    route: String,
    #[diesel(sql_type = diesel::sql_types::Integer)]
    status: i32,
    #[diesel(sql_type = diesel::sql_types::Text)]
    variant: String,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    calls: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    cost: i64,
}

#[derive(diesel::QueryableByName)]
struct OutcomeRow {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    day: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    ok: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    errors: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    cost: i64,
}

/// One UTC day of a key's calls, split by outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DayOutcome {
    /// The day (Unix ms of its 00:00Z).
    pub day: i64,
    /// Calls answered below 400.
    pub ok: i64,
    /// Calls answered 400 or above.
    pub errors: i64,
    /// Micro-credits charged.
    pub cost: i64,
}

#[derive(diesel::QueryableByName)]
struct TotalsRow {
    #[diesel(sql_type = diesel::sql_types::Text)]
    key_id: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    prefix: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    name: String,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    calls: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    cost: i64,
}

/// Calls and cost of one key over a period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyTotals {
    /// Key id.
    pub key_id: String,
    /// The key's display prefix (empty if the key row is gone).
    pub prefix: String,
    /// The key's name (empty if the key row is gone).
    pub name: String,
    /// Requests logged.
    pub calls: i64,
    /// Micro-credits spent.
    pub cost: i64,
}

/// A roll-up row: calls and cost for one key, day, route, status and variant.
#[derive(Debug, Clone, PartialEq, Eq, Queryable)]
pub struct DailyUsage {
    /// Start of the UTC day (Unix ms).
    pub day: i64,
    /// Route template (with method).
    pub route: String,
    /// Status.
    pub status: i32,
    /// Variant (empty when not a preset request).
    pub variant: String,
    /// Requests.
    pub calls: i64,
    /// Micro-credits.
    pub cost: i64,
}

/// A logged request, as read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggedCall {
    /// When.
    pub at: OffsetDateTime,
    /// Method.
    pub method: String,
    /// Route template.
    pub route: String,
    /// Status.
    pub status: u16,
    /// Micro-credits.
    pub cost: i64,
    /// Microseconds.
    pub duration_us: i64,
    /// Variant.
    pub variant: Option<String>,
    /// Format.
    pub format: Option<String>,
}

/// The start of `t`'s UTC day, in Unix ms.
pub fn day_of(t: OffsetDateTime) -> i64 {
    to_ms(t).div_euclid(DAY_MS) * DAY_MS
}

impl Store {
    /// Calls made with an OAuth client's tokens since `since`, from the raw log (SPEC §14:
    /// usage is logged with the client's id).
    pub async fn client_calls_since(
        &self,
        client_id: &str,
        since: OffsetDateTime,
    ) -> StoreResult<i64> {
        let since = to_ms(since);
        Ok(with_conn!(self, |conn| {
            usage_log::table
                .filter(usage_log::client_id.eq(client_id))
                .filter(usage_log::at.ge(since))
                .count()
                .get_result(conn)
                .await?
        }))
    }

    /// Calls `key_id` made since `since` (those answered 4xx or 5xx only, with `failures`),
    /// from the raw log (the alert rules of the current hour or day).
    pub async fn key_calls_since(
        &self,
        key_id: &str,
        since: OffsetDateTime,
        failures: bool,
    ) -> StoreResult<i64> {
        let since = to_ms(since);
        Ok(with_conn!(self, |conn| {
            let mut q = usage_log::table
                .filter(usage_log::key_id.eq(key_id))
                .filter(usage_log::at.ge(since))
                .count()
                .into_boxed();
            if failures {
                q = q.filter(usage_log::status.ge(400));
            }
            q.get_result::<i64>(conn).await?
        }))
    }

    /// Calls `key_id` made on the UTC days from `from_day` (inclusive) to `to_day`
    /// (exclusive), from the daily roll-ups.
    pub async fn key_calls_in_days(
        &self,
        key_id: &str,
        from_day: OffsetDateTime,
        to_day: OffsetDateTime,
    ) -> StoreResult<i64> {
        let (from, to) = (day_of(from_day), day_of(to_day));
        // A few rows per day (route × status × variant): summed here, where the sum's type
        // is the same on both backends.
        let calls: Vec<i64> = with_conn!(self, |conn| {
            usage_daily::table
                .filter(usage_daily::key_id.eq(key_id))
                .filter(usage_daily::day.ge(from))
                .filter(usage_daily::day.lt(to))
                .select(usage_daily::calls)
                .load(conn)
                .await?
        });
        Ok(calls.iter().sum())
    }

    /// Writes a batch of usage entries: the raw rows, the daily roll-ups and each key's
    /// `lastUsedAt` / `usageCount`, in one transaction so a batch is counted once or not at
    /// all.
    pub async fn record_usage(&self, entries: &[UsageEntry]) -> StoreResult<()> {
        if entries.is_empty() {
            return Ok(());
        }
        // Aggregate in memory first: one roll-up row per group instead of one per request,
        // then written [`ROWS_PER_STATEMENT`] rows per statement.
        // (key, day, "METHOD /route", status, variant) -> (owner, calls, cost).
        type Group = (String, i64, String, i32, String);
        let mut daily: HashMap<Group, (String, i64, i64)> = HashMap::new();
        let mut per_key: HashMap<String, (i64, i64)> = HashMap::new();
        for e in entries {
            let route = format!("{} {}", e.method, e.route);
            let group = (
                e.key_id.clone(),
                day_of(e.at),
                route,
                i32::from(e.status),
                e.variant.clone().unwrap_or_default(),
            );
            let slot = daily.entry(group).or_insert((e.owner_id.clone(), 0, 0));
            slot.1 += 1;
            slot.2 += e.cost;
            let k = per_key.entry(e.key_id.clone()).or_insert((0, i64::MIN));
            k.0 += 1;
            k.1 = k.1.max(to_ms(e.at));
        }
        let rows: Vec<NewUsageRow<'_>> = entries
            .iter()
            .map(|e| NewUsageRow {
                key_id: &e.key_id,
                owner_id: &e.owner_id,
                at: to_ms(e.at),
                method: &e.method,
                route: &e.route,
                status: i32::from(e.status),
                cost: e.cost,
                duration_us: e.duration_us,
                variant: e.variant.as_deref(),
                format: e.format.as_deref(),
                client_id: e.client_id.as_deref(),
            })
            .collect();
        let daily: Vec<DailyRow> = daily
            .into_iter()
            .map(
                |((key_id, day, route, status, variant), (owner_id, calls, cost))| DailyRow {
                    key_id,
                    owner_id,
                    day,
                    route,
                    status,
                    variant,
                    calls,
                    cost,
                },
            )
            .collect();
        // SQLite: the whole batch in one blocking task with diesel's synchronous API, which
        // batches multi-row inserts and avoids a thread hop per statement.
        let pool = match &self.pool {
            crate::db::DbPool::Pg(pool) => pool,
            crate::db::DbPool::Sqlite(pool) => {
                let owned: Vec<OwnedUsageRow> = rows.iter().map(OwnedUsageRow::from).collect();
                let per_key: Vec<(String, (i64, i64))> = per_key.into_iter().collect();
                let _writing = self.sqlite_writer.lock().await;
                let mut conn = pool.get().await?;
                conn.spawn_blocking(move |c| {
                    c.immediate_transaction(|c| {
                        let rows: Vec<NewUsageRow<'_>> =
                            owned.iter().map(OwnedUsageRow::borrow).collect();
                        for chunk in rows.chunks(ROWS_PER_STATEMENT) {
                            diesel::RunQueryDsl::execute(
                                diesel::insert_into(usage_log::table).values(chunk),
                                c,
                            )?;
                        }
                        for chunk in daily.chunks(ROWS_PER_STATEMENT) {
                            diesel::RunQueryDsl::execute(upsert_daily!(chunk), c)?;
                        }
                        for chunk in per_key.chunks(ROWS_PER_STATEMENT) {
                            diesel::RunQueryDsl::execute(
                                touch_keys!(diesel::sqlite::Sqlite, chunk),
                                c,
                            )?;
                        }
                        Ok::<_, diesel::result::Error>(())
                    })
                })
                .await?;
                return Ok(());
            }
        };
        // PostgreSQL: multi-row inserts over the async connection, in one transaction.
        let per_key: Vec<(String, (i64, i64))> = per_key.into_iter().collect();
        let (rows, daily, per_key) = (&rows, &daily, &per_key);
        let mut conn = pool.get().await?;
        conn.transaction::<_, diesel::result::Error, _>(async |conn| {
            for chunk in rows.chunks(ROWS_PER_STATEMENT) {
                diesel::insert_into(usage_log::table)
                    .values(chunk)
                    .execute(conn)
                    .await?;
            }
            for chunk in daily.chunks(ROWS_PER_STATEMENT) {
                upsert_daily!(chunk).execute(conn).await?;
            }
            for chunk in per_key.chunks(ROWS_PER_STATEMENT) {
                touch_keys!(diesel::pg::Pg, chunk).execute(conn).await?;
            }
            Ok(())
        })
        .await?;
        Ok(())
    }

    /// Calls and cost per key of `owner_id` for days in `[from, to)`, from the roll-ups.
    pub async fn owner_usage_by_key(
        &self,
        owner_id: &str,
        from: OffsetDateTime,
        to: OffsetDateTime,
    ) -> StoreResult<Vec<KeyTotals>> {
        let (from, to) = (day_of(from), to_ms(to));
        // Summed by the database: only one row per key leaves it. The CASTs keep the sums
        // BIGINT on PostgreSQL (SUM(BIGINT) is NUMERIC there); `$n` parameters appear in
        // order, which SQLite numbers the same way.
        let rows: Vec<TotalsRow> = with_conn!(self, |conn| {
            diesel::sql_query(
                "SELECT u.key_id, COALESCE(k.prefix, '') AS prefix, COALESCE(k.name, '') AS name, \
                 CAST(SUM(u.calls) AS BIGINT) AS calls, CAST(SUM(u.cost) AS BIGINT) AS cost \
                 FROM usage_daily u LEFT JOIN api_keys k ON k.id = u.key_id \
                 WHERE u.owner_id = $1 AND u.day >= $2 AND u.day < $3 \
                 GROUP BY u.key_id, k.prefix, k.name ORDER BY u.key_id",
            )
            .bind::<diesel::sql_types::Text, _>(owner_id)
            .bind::<diesel::sql_types::BigInt, _>(from)
            .bind::<diesel::sql_types::BigInt, _>(to)
            .load(conn)
            .await?
        });
        Ok(rows
            .into_iter()
            .map(|r| KeyTotals {
                key_id: r.key_id,
                prefix: r.prefix,
                name: r.name,
                calls: r.calls,
                cost: r.cost,
            })
            .collect())
    }

    /// A key's roll-up rows for days from `since` on (all days when `None`).
    pub async fn key_daily_usage(
        &self,
        key_id: &str,
        since: Option<OffsetDateTime>,
    ) -> StoreResult<Vec<DailyUsage>> {
        let from = since.map_or(i64::MIN, day_of);
        Ok(with_conn!(self, |conn| {
            usage_daily::table
                .filter(usage_daily::key_id.eq(key_id))
                .filter(usage_daily::day.ge(from))
                .select((
                    usage_daily::day,
                    usage_daily::route,
                    usage_daily::status,
                    usage_daily::variant,
                    usage_daily::calls,
                    usage_daily::cost,
                ))
                .order(usage_daily::day.asc())
                .load(conn)
                .await?
        }))
    }

    /// A key's usage from `since` on (ever when `None`), summed by the database two ways: per
    /// (route, status, variant) with `day` 0, and per day with empty route and variant and
    /// status 0. Both are small whatever the key's age, unlike its raw roll-up rows.
    pub async fn key_usage_grouped(
        &self,
        key_id: &str,
        since: Option<OffsetDateTime>,
    ) -> StoreResult<(Vec<DailyUsage>, Vec<DailyUsage>)> {
        let from = since.map_or(i64::MIN, day_of);
        let by_group: Vec<GroupRow> = with_conn!(self, |conn| {
            diesel::sql_query(
                "SELECT CAST(0 AS BIGINT) AS day, route, status, variant, \
                 CAST(SUM(calls) AS BIGINT) AS calls, CAST(SUM(cost) AS BIGINT) AS cost \
                 FROM usage_daily WHERE key_id = $1 AND day >= $2 \
                 GROUP BY route, status, variant",
            )
            .bind::<diesel::sql_types::Text, _>(key_id)
            .bind::<diesel::sql_types::BigInt, _>(from)
            .load(conn)
            .await?
        });
        let by_day: Vec<GroupRow> = with_conn!(self, |conn| {
            diesel::sql_query(
                "SELECT day, '' AS route, CAST(0 AS INTEGER) AS status, '' AS variant, \
                 CAST(SUM(calls) AS BIGINT) AS calls, CAST(SUM(cost) AS BIGINT) AS cost \
                 FROM usage_daily WHERE key_id = $1 AND day >= $2 \
                 GROUP BY day ORDER BY day",
            )
            .bind::<diesel::sql_types::Text, _>(key_id)
            .bind::<diesel::sql_types::BigInt, _>(from)
            .load(conn)
            .await?
        });
        let convert = |rows: Vec<GroupRow>| {
            rows.into_iter()
                .map(|r| DailyUsage {
                    day: r.day,
                    route: r.route,
                    status: r.status,
                    variant: r.variant,
                    calls: r.calls,
                    cost: r.cost,
                })
                .collect::<Vec<_>>()
        };
        Ok((convert(by_group), convert(by_day)))
    }

    /// A key's calls per UTC day from `since` on, split into successes (< 400) and errors,
    /// summed by the database from the roll-ups (one row per day with calls), oldest first.
    pub async fn key_days_by_outcome(
        &self,
        key_id: &str,
        since: OffsetDateTime,
    ) -> StoreResult<Vec<DayOutcome>> {
        let from = day_of(since);
        let rows: Vec<OutcomeRow> = with_conn!(self, |conn| {
            diesel::sql_query(
                "SELECT day, \
                 CAST(SUM(CASE WHEN status < 400 THEN calls ELSE 0 END) AS BIGINT) AS ok, \
                 CAST(SUM(CASE WHEN status >= 400 THEN calls ELSE 0 END) AS BIGINT) AS errors, \
                 CAST(SUM(cost) AS BIGINT) AS cost \
                 FROM usage_daily WHERE key_id = $1 AND day >= $2 GROUP BY day ORDER BY day",
            )
            .bind::<diesel::sql_types::Text, _>(key_id)
            .bind::<diesel::sql_types::BigInt, _>(from)
            .load(conn)
            .await?
        });
        Ok(rows
            .into_iter()
            .map(|r| DayOutcome {
                day: r.day,
                ok: r.ok,
                errors: r.errors,
                cost: r.cost,
            })
            .collect())
    }

    /// A key's most recent logged calls, newest first.
    pub async fn recent_calls(&self, key_id: &str, limit: i64) -> StoreResult<Vec<LoggedCall>> {
        type Row = (
            i64,
            String,
            String,
            i32,
            i64,
            i64,
            Option<String>,
            Option<String>,
        );
        let rows: Vec<Row> = with_conn!(self, |conn| {
            usage_log::table
                .filter(usage_log::key_id.eq(key_id))
                .order((usage_log::at.desc(), usage_log::id.desc()))
                .limit(limit.clamp(1, 1000))
                .select((
                    usage_log::at,
                    usage_log::method,
                    usage_log::route,
                    usage_log::status,
                    usage_log::cost,
                    usage_log::duration_us,
                    usage_log::variant,
                    usage_log::format,
                ))
                .load(conn)
                .await?
        });
        Ok(rows
            .into_iter()
            .map(
                |(at, method, route, status, cost, duration_us, variant, format)| LoggedCall {
                    at: from_ms(at),
                    method,
                    route,
                    status: u16::try_from(status).unwrap_or(0),
                    cost,
                    duration_us,
                    variant,
                    format,
                },
            )
            .collect())
    }

    /// Deletes at most `limit` raw log rows older than `before` (roll-ups are kept); returns
    /// how many. The retention job calls it until a batch comes back short, so no single
    /// statement holds the table (on SQLite: the one writer lock, which the usage flusher
    /// also needs) for long, however many rows have expired.
    pub async fn purge_usage_batch(
        &self,
        before: OffsetDateTime,
        limit: i64,
    ) -> StoreResult<usize> {
        let cutoff = to_ms(before);
        // SQLite binds each id as a parameter; stay well under its 32,766 limit.
        let limit = limit.clamp(1, 10_000);
        // Two statements (ids, then delete by id) rather than `DELETE … WHERE id IN
        // (SELECT … LIMIT n)`, which diesel cannot express for a table and itself; a crash
        // between them leaves rows that the next batch deletes.
        let expired: Vec<i64> = with_conn!(self, |conn| {
            usage_log::table
                .filter(usage_log::at.lt(cutoff))
                .select(usage_log::id)
                .limit(limit)
                .load(conn)
                .await?
        });
        if expired.is_empty() {
            return Ok(0);
        }
        let expired = &expired;
        Ok(with_conn!(self, |conn| {
            diesel::delete(usage_log::table.filter(usage_log::id.eq_any(expired)))
                .execute(conn)
                .await?
        }))
    }

    /// Deletes raw log rows older than `before` (roll-ups are kept); returns how many.
    pub async fn purge_usage_before(&self, before: OffsetDateTime) -> StoreResult<usize> {
        let cutoff = to_ms(before);
        Ok(with_conn!(self, |conn| {
            diesel::delete(usage_log::table.filter(usage_log::at.lt(cutoff)))
                .execute(conn)
                .await?
        }))
    }
}
