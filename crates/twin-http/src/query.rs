//! Query strings parsed into the very structs the OpenAPI document describes.
//!
//! Each endpoint's parameters are one struct deriving `Deserialize` (with
//! `deny_unknown_fields`) and `IntoParams`: the document lists exactly the names, types and
//! enums the server accepts, and anything else is a 400 `INVALID_PARAMETER` naming the
//! parameter. Handlers parse the query after authentication, so a request with both a bad key
//! and a bad query is answered 401 as the check order says.

use actix_web::HttpRequest;
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// Parses the request's query string into `T`.
///
/// Refused with 400 `INVALID_PARAMETER`: malformed percent-encoding, a NUL byte (PostgreSQL
/// refuses one in any text parameter), a repeated name (ambiguous), a name `T` does not
/// have, and a value of the wrong type or outside its enum (naming the allowed values).
pub fn parse_query<T: DeserializeOwned>(req: &HttpRequest) -> Result<T, ApiError> {
    let raw = req.query_string();
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(raw)
        .map_err(|_| ApiError::invalid_parameter("query", None, "the query string is malformed"))?;
    let mut seen: Vec<&str> = Vec::with_capacity(pairs.len());
    for (name, value) in &pairs {
        if name.contains('\0') || value.contains('\0') {
            return Err(ApiError::invalid_parameter(
                &name.replace('\0', ""),
                None,
                "contains a NUL character",
            ));
        }
        if seen.contains(&name.as_str()) {
            return Err(ApiError::invalid_parameter(
                name,
                None,
                "given more than once",
            ));
        }
        seen.push(name);
    }
    let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(raw.as_bytes()));
    Ok(twin_core::input::deserialize(de, "query")?)
}

/// For an endpoint that takes no query parameters: any name is refused, as on the others
/// (an empty query string is no parameter).
pub fn no_query(req: &HttpRequest) -> Result<(), ApiError> {
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct NoQuery {}
    if req.query_string().is_empty() {
        return Ok(());
    }
    parse_query::<NoQuery>(req).map(|_| ())
}

/// Checks a page size against its documented range.
pub fn check_limit(value: Option<u32>, default: u32, max: u32) -> Result<u32, ApiError> {
    match value {
        None => Ok(default),
        Some(n) if (1..=max).contains(&n) => Ok(n),
        Some(_) => Err(ApiError::invalid_parameter(
            "limit",
            None,
            &format!("expected an integer from 1 to {max}"),
        )),
    }
}
