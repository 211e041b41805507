//! Reading request input (JSON bodies, query strings) into the typed request structs every
//! interface shares, with failures as 400 `INVALID_PARAMETER` naming the field.
//!
//! The request structs are the types the OpenAPI document describes, so what the server
//! parses and what the document promises cannot drift: an unknown name, a value outside an
//! enum or a wrong type is refused, never silently ignored.

use serde::{Deserialize, Deserializer};
use serde_path_to_error::Segment;

use crate::Error;

/// Parses a JSON body into `T`.
///
/// An empty body, malformed JSON, an unknown field, a missing field or a value of the wrong
/// type or outside an enum is a 400 `INVALID_PARAMETER` whose `parameter` is the top-level
/// field at fault (`body` when none is) and, for an enum, whose `allowed` lists its values.
///
/// ```
/// use twin_core::input::parse_body;
/// #[derive(serde::Deserialize)]
/// #[serde(deny_unknown_fields)]
/// struct Body { env: twin_store::KeyEnv }
///
/// let err = parse_body::<Body>(br#"{"env": "prod"}"#).err().unwrap();
/// assert_eq!(err.extra()["parameter"], "env");
/// assert_eq!(err.extra()["allowed"], serde_json::json!(["live", "test"]));
/// ```
pub fn parse_body<T: for<'de> Deserialize<'de>>(bytes: &[u8]) -> Result<T, Error> {
    if bytes.is_empty() {
        return Err(Error::invalid_parameter(
            "body",
            None,
            "a JSON object is required",
        ));
    }
    // serde reads a struct from a JSON array too, field by field in order; the document
    // promises an object, so nothing else is read.
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(Error::invalid_parameter(
            "body",
            None,
            "a JSON object is required",
        ));
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = deserialize(&mut de, "body")?;
    de.end().map_err(|_| {
        Error::invalid_parameter("body", None, "trailing characters after the JSON value")
    })?;
    Ok(value)
}

/// Deserializes `T` from any serde deserializer (a query string's, a form's), turning a
/// failure into 400 `INVALID_PARAMETER` as [`parse_body`] does; `whole` names the input
/// when no single field is at fault (`query`, `body`).
pub fn deserialize<'de, D, T>(de: D, whole: &str) -> Result<T, Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    serde_path_to_error::deserialize(de).map_err(|e| {
        let field = e.path().iter().find_map(|s| match s {
            Segment::Map { key } => Some(key.clone()),
            _ => None,
        });
        input_error(field.as_deref(), &e.inner().to_string(), whole)
    })
}

/// The words between backticks in serde's message, in order.
fn quoted(message: &str) -> Vec<&str> {
    message.split('`').skip(1).step_by(2).collect()
}

/// A value quoted for a message, cut so a hostile value cannot bloat a response or a log.
fn shown(value: &str) -> String {
    format!("{:?}", value.chars().take(64).collect::<String>())
}

/// serde's words for Rust types, in the words of the JSON an integrator sends.
fn plain_words(message: &str) -> String {
    let mut out = message.to_owned();
    for (rust, json) in [
        ("expected i64", "expected an integer"),
        ("expected i32", "expected an integer"),
        ("expected u64", "expected a non-negative integer"),
        ("expected u32", "expected a non-negative integer"),
        ("expected u16", "expected a non-negative integer"),
        ("expected f64", "expected a number"),
        ("expected a boolean", "expected true or false"),
        ("invalid type: floating point", "invalid type: number"),
        ("invalid type: integer", "invalid type: number"),
    ] {
        out = out.replace(rust, json);
    }
    // "expected struct CreateKeyBody", "expected enum IssueKey", "untagged enum IssueKey".
    for marker in ["expected struct ", "expected enum ", "untagged enum "] {
        if let Some(at) = out.find(marker) {
            let end = out[at + marker.len()..]
                .find(|c: char| !c.is_alphanumeric())
                .map_or(out.len(), |i| at + marker.len() + i);
            let replacement = if marker == "untagged enum " {
                "any accepted shape"
            } else {
                "expected a JSON object"
            };
            out.replace_range(at..end, replacement);
        }
    }
    out
}

fn input_error(field: Option<&str>, message: &str, whole: &str) -> Error {
    // serde_json appends a position; it says nothing an integrator needs.
    let message = message.split(" at line ").next().unwrap_or(message);
    let plain = plain_words(message);
    let words = quoted(message);
    let parameter = field.unwrap_or(whole);
    if message.starts_with("unknown field ")
        && let Some((name, accepted)) = words.split_first()
    {
        let detail = if accepted.is_empty() {
            "not accepted here; this takes none".to_owned()
        } else {
            format!(
                "not accepted here; the accepted names are {}",
                accepted.join(", ")
            )
        };
        return Error::invalid_parameter(name, None, &detail);
    }
    if message.starts_with("missing field ")
        && let Some(name) = words.first()
    {
        return Error::invalid_parameter(name, None, "required");
    }
    if message.starts_with("duplicate field ")
        && let Some(name) = words.first()
    {
        return Error::invalid_parameter(name, None, "given more than once");
    }
    if message.starts_with("unknown variant ")
        && let Some((value, allowed)) = words.split_first()
    {
        return Error::invalid_parameter(
            parameter,
            Some(allowed),
            &format!("got {}", shown(value)),
        );
    }
    if message.starts_with("provided string was not ") {
        // serde_urlencoded's boolean.
        return Error::invalid_parameter(parameter, Some(&words), "");
    }
    Error::invalid_parameter(parameter, None, &plain)
}

/// Reads an integer field the way JSON Schema counts integers: `5000` and `5000.0` are the
/// same integer; `5000.5`, a string or a value beyond 64 bits is refused.
pub fn whole_number<'de, D: Deserializer<'de>>(de: D) -> Result<Option<i64>, D::Error> {
    let Some(value) = Option::<serde_json::Number>::deserialize(de)? else {
        return Ok(None);
    };
    if let Some(n) = value.as_i64() {
        return Ok(Some(n));
    }
    match value.as_f64() {
        Some(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => Ok(Some(f as i64)),
        _ => Err(serde::de::Error::custom(format!(
            "expected an integer, got {value}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use twin_store::{KeyEnv, Scope};

    use super::*;

    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "camelCase", deny_unknown_fields)]
    #[allow(dead_code)]
    struct Body {
        name: String,
        env: Option<KeyEnv>,
        scopes: Option<Vec<Scope>>,
        monthly_quota: Option<u32>,
    }

    fn err(json: &str) -> (String, serde_json::Value, String) {
        let e = parse_body::<Body>(json.as_bytes()).unwrap_err();
        assert_eq!(e.code().status(), 400);
        (
            e.extra()["parameter"].as_str().unwrap().to_owned(),
            e.extra().get("allowed").cloned().unwrap_or_default(),
            e.message().to_owned(),
        )
    }

    #[test]
    fn each_failure_names_its_field() {
        assert_eq!(err(r#"{"name":"a","env":"prod"}"#).0, "env");
        assert_eq!(
            err(r#"{"name":"a","env":"prod"}"#).1,
            json!(["live", "test"])
        );
        let (param, allowed, _) = err(r#"{"name":"a","scopes":["twin:read","root"]}"#);
        assert_eq!(param, "scopes");
        assert_eq!(allowed.as_array().unwrap().len(), Scope::ALLOWED.len());
        let (param, _, message) = err(r#"{"name":"a","monthlyQuota":-1}"#);
        assert_eq!(param, "monthlyQuota");
        assert!(!message.contains("line"), "{message}");
        let (param, _, message) = err(r#"{"name":"a","colour":1}"#);
        assert_eq!(param, "colour");
        assert!(message.contains("monthlyQuota"), "{message}");
        assert_eq!(err(r#"{"env":"live"}"#).0, "name");
        assert_eq!(err(r#"{"name":"a"} x"#).0, "body");
        assert_eq!(err("[1]").0, "body");
        assert_eq!(
            err(r#"["a", "live"]"#).0,
            "body",
            "an array is not read as the struct"
        );
        assert_eq!(err("").0, "body");
    }

    #[test]
    fn messages_speak_json_not_rust() {
        let (_, _, message) = err(r#"{"name":"a","monthlyQuota":"many"}"#);
        assert!(!message.contains("u32"), "{message}");
        assert!(message.contains("non-negative integer"), "{message}");
        let e = parse_body::<Body>(b"{").unwrap_err();
        assert!(!e.message().contains("struct"), "{}", e.message());
    }

    #[test]
    fn whole_floats_are_integers() {
        #[derive(Deserialize)]
        struct N {
            #[serde(default, deserialize_with = "whole_number")]
            n: Option<i64>,
        }
        let n = |json: &str| serde_json::from_str::<N>(json).map(|v| v.n);
        assert_eq!(n(r#"{"n": 5000.0}"#).unwrap(), Some(5000));
        assert_eq!(n(r#"{"n": -3}"#).unwrap(), Some(-3));
        assert_eq!(n(r#"{"n": null}"#).unwrap(), None);
        assert_eq!(n("{}").unwrap(), None);
        assert!(n(r#"{"n": 1.5}"#).is_err());
        assert!(n(r#"{"n": "5"}"#).is_err());
        assert!(n(r#"{"n": 1e300}"#).is_err());
    }

    #[test]
    fn a_hostile_value_is_cut_in_the_message() {
        let long = "x".repeat(10_000);
        let (_, _, message) = err(&format!(r#"{{"name":"a","env":"{long}"}}"#));
        assert!(message.len() < 300, "{}", message.len());
    }
}
