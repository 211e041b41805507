//! Plans: what an owner's subscription allows. Plans are configuration; the built-in
//! catalogue has `free` and `professional` (SPEC §9) and an operator can load their own.

use serde::{Deserialize, Serialize};

/// One plan's limits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Plan {
    /// Stable identifier stored on owners (`professional`).
    pub slug: String,
    /// Human name (`Professional`).
    pub name: String,
    /// Whether keys of owners on this plan may call the API at all.
    pub api_access: bool,
    /// Most keys an owner may have active at once.
    pub max_keys: u32,
    /// Monthly quota given to new keys when none is asked for.
    pub default_monthly_quota: u64,
    /// Largest monthly quota a key may have.
    pub max_monthly_quota: u64,
    /// Rate limit (requests per minute) given to new keys when none is asked for.
    pub default_rate_limit_rpm: u32,
    /// Largest rate limit a key may have (0 = keys may not disable the limit either).
    pub max_rate_limit_rpm: u32,
}

/// The set of known plans.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanCatalog {
    /// The plans, in display order.
    pub plans: Vec<Plan>,
}

/// Why a plan catalogue was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    /// Two plans share a slug.
    #[error("duplicate plan slug {0:?}")]
    DuplicateSlug(String),
    /// A plan's numbers contradict each other.
    #[error("plan {slug:?}: {problem}")]
    Inconsistent {
        /// The plan.
        slug: String,
        /// What is wrong.
        problem: &'static str,
    },
    /// The catalogue has no plans.
    #[error("a plan catalogue needs at least one plan")]
    Empty,
}

impl Plan {
    /// A plan without API access named `slug`: what an owner whose plan is missing from the
    /// configuration is on (their keys stay stored and answer `PLAN_REQUIRED`).
    pub fn without_access(slug: &str) -> Plan {
        Plan {
            slug: slug.to_owned(),
            name: slug.to_owned(),
            api_access: false,
            max_keys: 0,
            default_monthly_quota: 0,
            max_monthly_quota: 0,
            default_rate_limit_rpm: 0,
            max_rate_limit_rpm: 0,
        }
    }
}

impl PlanCatalog {
    /// The built-in plans of SPEC §9.
    ///
    /// ```
    /// let plans = twin_meter::plans::PlanCatalog::builtin();
    /// let pro = plans.get("professional").unwrap();
    /// assert!(pro.api_access);
    /// assert_eq!((pro.max_keys, pro.default_monthly_quota), (50, 10_000));
    /// assert!(!plans.get("free").unwrap().api_access);
    /// ```
    pub fn builtin() -> Self {
        PlanCatalog {
            plans: vec![
                Plan {
                    slug: "free".into(),
                    name: "Free".into(),
                    api_access: false,
                    max_keys: 0,
                    default_monthly_quota: 0,
                    max_monthly_quota: 0,
                    default_rate_limit_rpm: 0,
                    max_rate_limit_rpm: 0,
                },
                Plan {
                    slug: "professional".into(),
                    name: "Professional".into(),
                    api_access: true,
                    max_keys: 50,
                    default_monthly_quota: crate::DEFAULT_MONTHLY_QUOTA,
                    max_monthly_quota: crate::MAX_MONTHLY_QUOTA,
                    default_rate_limit_rpm: 60,
                    max_rate_limit_rpm: 6_000,
                },
            ],
        }
    }

    /// Checks a catalogue read from configuration.
    pub fn validate(self) -> Result<Self, PlanError> {
        if self.plans.is_empty() {
            return Err(PlanError::Empty);
        }
        for (i, plan) in self.plans.iter().enumerate() {
            if self.plans[..i].iter().any(|p| p.slug == plan.slug) {
                return Err(PlanError::DuplicateSlug(plan.slug.clone()));
            }
            let bad = |problem| {
                Err(PlanError::Inconsistent {
                    slug: plan.slug.clone(),
                    problem,
                })
            };
            if plan.default_monthly_quota > plan.max_monthly_quota {
                return bad("defaultMonthlyQuota is above maxMonthlyQuota");
            }
            if plan.max_monthly_quota > crate::MAX_MONTHLY_QUOTA {
                return bad("maxMonthlyQuota is above 1,000,000");
            }
            if plan.default_rate_limit_rpm > plan.max_rate_limit_rpm {
                return bad("defaultRateLimitRpm is above maxRateLimitRpm");
            }
            if plan.api_access && plan.default_monthly_quota == 0 {
                return bad("a plan with API access needs a defaultMonthlyQuota of at least 1");
            }
        }
        Ok(self)
    }

    /// The plan with `slug`.
    pub fn get(&self, slug: &str) -> Option<&Plan> {
        self.plans.iter().find(|p| p.slug == slug)
    }

    /// Every slug, for error messages.
    pub fn slugs(&self) -> Vec<&str> {
        self.plans.iter().map(|p| p.slug.as_str()).collect()
    }
}

impl Default for PlanCatalog {
    fn default() -> Self {
        Self::builtin()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_catalogue_is_valid() {
        assert!(PlanCatalog::builtin().validate().is_ok());
    }

    #[test]
    fn contradictions_are_refused() {
        let mut catalogue = PlanCatalog::builtin();
        catalogue.plans[1].default_monthly_quota = 2_000_000;
        assert!(matches!(
            catalogue.validate(),
            Err(PlanError::Inconsistent { .. })
        ));
        let mut catalogue = PlanCatalog::builtin();
        let copy = catalogue.plans[0].clone();
        catalogue.plans.push(copy);
        assert_eq!(
            catalogue.validate(),
            Err(PlanError::DuplicateSlug("free".into()))
        );
        assert_eq!(
            PlanCatalog { plans: vec![] }.validate(),
            Err(PlanError::Empty)
        );
    }
}
