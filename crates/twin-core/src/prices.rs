//! What each endpoint costs, in micro-credits (SPEC §6: configuration; defaults `preset` 1,
//! others 0).

use std::collections::HashMap;

use twin_meter::Credits;

/// The endpoints that can be priced, by configuration name and route template.
pub const PRICED_ROUTES: &[(&str, &str)] = &[
    ("health", "/v1/public/twin/health"),
    ("me", "/v1/public/twin/me"),
    ("historic", "/v1/public/twin/historic"),
    ("snapshot", "/v1/public/twin/snapshots/{id}"),
    ("preset", "/v1/public/twin/preset/{slug}"),
];

/// Prices by route template.
#[derive(Debug, Clone)]
pub struct Prices(HashMap<&'static str, i64>);

impl Default for Prices {
    fn default() -> Self {
        let mut map = HashMap::new();
        map.insert("/v1/public/twin/preset/{slug}", Credits::ONE.micros());
        Prices(map)
    }
}

/// A price for an endpoint that has none, or a bad amount.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PriceError {
    /// Not a priced endpoint.
    #[error("unknown endpoint {0:?}; priced endpoints: health, me, historic, snapshot, preset")]
    UnknownEndpoint(String),
    /// Not a credit amount.
    #[error("bad price for {0}: {1}")]
    BadAmount(String, String),
}

impl Prices {
    /// Sets the price of the endpoint named `name` (`preset`, `me`, …) to `amount` credits
    /// (a decimal string with up to 6 places).
    pub fn set(&mut self, name: &str, amount: &str) -> Result<(), PriceError> {
        let route = PRICED_ROUTES
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, r)| *r)
            .ok_or_else(|| PriceError::UnknownEndpoint(name.to_owned()))?;
        let credits: Credits = amount
            .parse()
            .map_err(|e| PriceError::BadAmount(name.to_owned(), format!("{e}")))?;
        self.0.insert(route, credits.micros());
        Ok(())
    }

    /// The price of a request whose route template is `route` (0 when unpriced).
    pub fn for_route(&self, route: Option<&str>) -> i64 {
        route.and_then(|r| self.0.get(r).copied()).unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_overrides() {
        let mut prices = Prices::default();
        assert_eq!(
            prices.for_route(Some("/v1/public/twin/preset/{slug}")),
            1_000_000
        );
        assert_eq!(prices.for_route(Some("/v1/public/twin/me")), 0);
        assert_eq!(prices.for_route(None), 0);
        prices.set("me", "0.25").unwrap();
        assert_eq!(prices.for_route(Some("/v1/public/twin/me")), 250_000);
        assert!(prices.set("admin", "1").is_err());
        assert!(prices.set("me", "-1").is_err());
    }
}
