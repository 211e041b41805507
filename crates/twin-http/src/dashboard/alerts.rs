//! A key's alert settings in the dashboard (SPEC §13, §15): the fields the create form and
//! the limits editor share, and how they become the `alertThresholds` and `alerts` of the
//! core's create and update bodies (which check them, as for the API).
//!
//! The thresholds field shows the percentages in force (`80, 100` by default): what is
//! shown is what is saved, and emptying it turns threshold alerts off. A rule whose number
//! is left empty is no rule. The editor sends a setting only when it differs from the
//! key's, so saving other limits does not list `alerts` among a `key.updated`'s changes.

use maud::{Markup, html};
use twin_store::{AlertPeriod, AlertRules, CountRule, DEFAULT_ALERT_THRESHOLDS, KeyAlerts};

use super::Page;
use super::i18n::Msg;
use super::pages::field;
use crate::error::ApiError;

fn period_word(page: &Page, period: AlertPeriod) -> &'static str {
    match period {
        AlertPeriod::Hour => page.t(Msg::Hour),
        AlertPeriod::Day => page.t(Msg::Day),
    }
}

/// One count rule: "more calls than [n] per [hour|day]".
fn rule_fields(page: &Page, name: &str, label: Msg, rule: Option<CountRule>) -> Markup {
    let threshold = format!("{name}Threshold");
    let period = format!("{name}Period");
    let current = rule.map_or(AlertPeriod::Hour, |r| r.period);
    html! {
        div.field {
            label for=(threshold) { (page.t(label)) " (" (page.t(Msg::EmptyForNone)) ")" }
            input type="number" id=(threshold) name=(threshold) min="1" max="1000000000"
                value=(rule.map(|r| r.threshold.to_string()).unwrap_or_default());
            label for=(period) { (page.t(Msg::Per)) }
            select id=(period) name=(period) {
                @for p in [AlertPeriod::Hour, AlertPeriod::Day] {
                    option value=(p.as_str()) selected[p == current] { (period_word(page, p)) }
                }
            }
        }
    }
}

/// The alert fields, filled with a key's settings (or the defaults, for a new key).
pub(super) fn fields(page: &Page, alerts: &KeyAlerts) -> Markup {
    let rules = alerts.rules.clone().unwrap_or_default();
    let thresholds = alerts
        .thresholds()
        .iter()
        .map(u8::to_string)
        .collect::<Vec<_>>()
        .join(", ");
    html! {
        fieldset {
            legend { (page.t(Msg::Alerts)) }
            div.field {
                label for="alertThresholds" { (page.t(Msg::AlertThresholds)) " (" (page.t(Msg::CommaSeparated)) ")" }
                input type="text" id="alertThresholds" name="alertThresholds" inputmode="numeric"
                    autocomplete="off" placeholder="80, 100" value=(thresholds);
            }
            (rule_fields(page, "highUsage", Msg::HighUsage, rules.high_usage))
            (rule_fields(page, "failures", Msg::ManyFailures, rules.failures))
            div.field {
                label for="unusualActivity" {
                    input type="checkbox" id="unusualActivity" name="unusualActivity" value="true" checked[rules.unusual_activity];
                    " " (page.t(Msg::UnusualActivity))
                }
            }
        }
    }
}

/// The form's settings: thresholds (ascending, distinct, as the core keeps them) and rules.
fn read(fields: &[(String, String)]) -> Result<(Vec<u8>, AlertRules), ApiError> {
    let bad = || {
        ApiError::invalid_parameter(
            "alertThresholds",
            None,
            "up to 10 whole percentages from 1 to 100, such as 80, 100",
        )
    };
    let mut thresholds = field(fields, "alertThresholds")
        .unwrap_or_default()
        .split([',', ' ', ';'])
        .map(|t| t.trim().trim_end_matches('%'))
        .filter(|t| !t.is_empty())
        .map(|t| {
            t.parse::<u8>()
                .ok()
                .filter(|p| (1..=100).contains(p))
                .ok_or_else(bad)
        })
        .collect::<Result<Vec<u8>, ApiError>>()?;
    thresholds.sort_unstable();
    thresholds.dedup();
    if thresholds.len() > 10 {
        return Err(bad());
    }
    let rule = |name: &str| -> Result<Option<CountRule>, ApiError> {
        let threshold_field = format!("{name}Threshold");
        let Some(text) = field(fields, &threshold_field) else {
            return Ok(None);
        };
        let threshold = text.parse::<i64>().map_err(|_| {
            ApiError::invalid_parameter(
                &format!("alerts.{name}.threshold"),
                None,
                "an integer from 1 to 1000000000",
            )
        })?;
        let period_field = format!("{name}Period");
        let period = match field(fields, &period_field) {
            None => AlertPeriod::Hour,
            Some(p) => p.parse::<AlertPeriod>().map_err(|_| {
                ApiError::invalid_parameter(
                    &format!("alerts.{name}.period"),
                    Some(&["hour", "day"]),
                    "",
                )
            })?,
        };
        Ok(Some(CountRule { threshold, period }))
    };
    let rules = AlertRules {
        high_usage: rule("highUsage")?,
        failures: rule("failures")?,
        unusual_activity: field(fields, "unusualActivity") == Some("true"),
    };
    Ok((thresholds, rules))
}

fn thresholds_json(thresholds: &[u8]) -> Vec<serde_json::Value> {
    thresholds
        .iter()
        .map(|&t| serde_json::Value::from(t))
        .collect()
}

fn rules_json(rules: &AlertRules) -> Result<serde_json::Value, ApiError> {
    serde_json::to_value(rules).map_err(ApiError::internal)
}

/// The create body's `alertThresholds` and `alerts`: nothing where the form kept the
/// defaults (80 % and 100 %, no rules).
pub(super) type CreateSettings = (Option<Vec<serde_json::Value>>, Option<serde_json::Value>);

/// See [`CreateSettings`].
pub(super) fn for_create(fields: &[(String, String)]) -> Result<CreateSettings, ApiError> {
    let (thresholds, rules) = read(fields)?;
    let thresholds = (thresholds != DEFAULT_ALERT_THRESHOLDS).then(|| thresholds_json(&thresholds));
    let rules = if rules.is_empty() {
        None
    } else {
        Some(rules_json(&rules)?)
    };
    Ok((thresholds, rules))
}

/// The update body's `alertThresholds` and `alerts`: only what differs from the key's.
pub(super) type UpdateSettings = (
    Option<Option<Vec<serde_json::Value>>>,
    Option<Option<serde_json::Value>>,
);

/// See [`UpdateSettings`].
pub(super) fn for_update(
    fields: &[(String, String)],
    current: &KeyAlerts,
) -> Result<UpdateSettings, ApiError> {
    let (thresholds, rules) = read(fields)?;
    let thresholds =
        (thresholds != current.thresholds()).then(|| Some(thresholds_json(&thresholds)));
    let now = current.rules.clone().unwrap_or_default();
    let rules = if rules == now {
        None
    } else if rules.is_empty() {
        Some(None)
    } else {
        Some(Some(rules_json(&rules)?))
    };
    Ok((thresholds, rules))
}

#[cfg(test)]
mod tests {
    use super::*;
    use twin_core::ErrorCode;

    fn form(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn the_defaults_send_nothing_and_changes_send_only_themselves() {
        let defaults = form(&[("alertThresholds", "80, 100"), ("highUsagePeriod", "day")]);
        assert_eq!(for_create(&defaults).unwrap(), (None, None));
        let current = KeyAlerts::default();
        assert_eq!(for_update(&defaults, &current).unwrap(), (None, None));

        let changed = form(&[
            ("alertThresholds", "100 50%,50"),
            ("failuresThreshold", "25"),
            ("failuresPeriod", "day"),
        ]);
        let (t, r) = for_update(&changed, &current).unwrap();
        assert_eq!(t, Some(Some(vec![50.into(), 100.into()])));
        assert_eq!(
            r,
            Some(Some(serde_json::json!({
                "failures": {"threshold": 25, "period": "day"},
                "unusualActivity": false
            })))
        );
        // Emptying the thresholds turns them off; clearing every rule removes them.
        let with_rules = KeyAlerts {
            thresholds: None,
            rules: Some(AlertRules {
                unusual_activity: true,
                ..AlertRules::default()
            }),
        };
        let cleared = form(&[("alertThresholds", "")]);
        assert_eq!(
            for_update(&cleared, &with_rules).unwrap(),
            (Some(Some(vec![])), Some(None))
        );
    }

    #[test]
    fn bad_numbers_are_refused_naming_the_field() {
        for (name, value) in [
            ("alertThresholds", "0"),
            ("alertThresholds", "101"),
            ("alertThresholds", "eighty"),
            ("alertThresholds", "1,2,3,4,5,6,7,8,9,10,11"),
            ("highUsageThreshold", "many"),
        ] {
            let err = for_create(&form(&[(name, value)])).unwrap_err();
            assert_eq!(err.code(), ErrorCode::InvalidParameter, "{name}={value}");
        }
        let err = for_create(&form(&[
            ("failuresThreshold", "3"),
            ("failuresPeriod", "week"),
        ]))
        .unwrap_err();
        assert_eq!(err.code(), ErrorCode::InvalidParameter);
    }
}
