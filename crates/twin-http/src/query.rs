//! Query-string parsing that reports problems in the error envelope.
//!
//! Handlers parse the query themselves, after authentication, so a request with both a bad
//! key and a bad query is answered 401 as the check order says; unknown parameters are
//! ignored.

use std::collections::HashMap;

use actix_web::HttpRequest;

use crate::error::ApiError;

/// A parsed query string.
pub struct Query(pub HashMap<String, String>);

impl Query {
    /// Parses the request's query string; bad percent-encoding or a NUL byte is a 400.
    pub fn parse(req: &HttpRequest) -> Result<Query, ApiError> {
        let pairs: Vec<(String, String)> =
            serde_urlencoded::from_str(req.query_string()).map_err(|_| {
                ApiError::invalid_parameter("query", None, "the query string is malformed")
            })?;
        let mut map = HashMap::with_capacity(pairs.len());
        for (name, value) in pairs {
            // No parameter of this API may hold a NUL byte, and PostgreSQL refuses one in
            // any text parameter: refuse it here rather than fail in the store.
            if name.contains('\0') || value.contains('\0') {
                return Err(ApiError::invalid_parameter(
                    &name.replace('\0', ""),
                    None,
                    "contains a NUL character",
                ));
            }
            // A repeated parameter is ambiguous; refuse it rather than pick one.
            if map.contains_key(&name) {
                return Err(ApiError::invalid_parameter(
                    &name,
                    None,
                    "given more than once",
                ));
            }
            map.insert(name, value);
        }
        Ok(Query(map))
    }
}

/// Parses a page size: `default` when absent, 1..=`max` otherwise.
pub fn parse_limit(value: Option<&str>, default: u32, max: u32) -> Result<u32, ApiError> {
    match value {
        None => Ok(default),
        Some(v) => match v.parse::<u32>() {
            Ok(n) if (1..=max).contains(&n) => Ok(n),
            _ => Err(ApiError::invalid_parameter(
                "limit",
                None,
                &format!("expected an integer from 1 to {max}"),
            )),
        },
    }
}
