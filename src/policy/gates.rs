//! The `gates:` section of `.github/fixwright.yml`: which versions of the gate
//! tools a repository's gates run with, and how long they may take.
//!
//! Versions are exact pins, written the way PyPI publishes them (`0.17.6`,
//! `2.0.0rc1`), never ranges: the same pins give the same environment and the
//! same verdicts, and a change of pin is a visible change to the file. Unset
//! values are Fixwright's own pins and limits.

use std::borrow::Cow;
use std::fmt;
use std::sync::LazyLock;

use regex::Regex;
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Deserializer, Serialize};

/// PEP 440's canonical form of a public version (its appendix B): epoch,
/// release, pre-, post- and dev-release, nothing else, no spaces.
const CANONICAL_VERSION: &str = r"^([1-9][0-9]*!)?(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))*((a|b|rc)(0|[1-9][0-9]*))?(\.post(0|[1-9][0-9]*))?(\.dev(0|[1-9][0-9]*))?$";

static VERSION: LazyLock<Option<Regex>> = LazyLock::new(|| Regex::new(CANONICAL_VERSION).ok());

/// One exact, canonical version of a Python distribution.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(into = "String")]
pub struct ToolVersion(String);

/// Why a version was refused; the message tells how to write it instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{version}` {reason}")]
pub struct VersionError {
    pub version: String,
    pub reason: String,
}

impl ToolVersion {
    /// Checks that `version` is one exact version in PEP 440's canonical form.
    pub fn new(version: impl Into<String>) -> Result<Self, VersionError> {
        let version = version.into();
        let refuse = |reason: &str| VersionError {
            version: version.clone(),
            reason: reason.to_owned(),
        };
        let trimmed = version.trim_start();
        if trimmed.starts_with(['=', '<', '>', '~', '!', '^']) {
            return Err(refuse(
                "is a requirement, not a version: write the exact version alone, such as `0.17.6`",
            ));
        }
        if version.contains(['*', ',', ' ']) {
            return Err(refuse(
                "is not one exact version: ranges and wildcards are not pins; write the version alone, such as `0.17.6`",
            ));
        }
        let canonical = VERSION.as_ref().is_some_and(|re| re.is_match(&version));
        if !canonical {
            return Err(refuse(
                "is not an exact version in PEP 440's canonical form (such as `0.17.6`, `2.0.0rc1`, `1.4.post1`)",
            ));
        }
        Ok(Self(version))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// A default known to be valid; for Fixwright's own pins only.
    fn builtin(version: &'static str) -> Self {
        Self(version.to_owned())
    }
}

impl fmt::Display for ToolVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<ToolVersion> for String {
    fn from(version: ToolVersion) -> Self {
        version.0
    }
}

impl<'de> Deserialize<'de> for ToolVersion {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;

        impl serde::de::Visitor<'_> for Visitor {
            type Value = ToolVersion;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an exact version as a string, such as \"0.17.6\"")
            }

            fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<ToolVersion, E> {
                ToolVersion::new(text).map_err(E::custom)
            }

            // YAML reads `2.4` or `9` as numbers, and `9.20` as 9.2: a version
            // must be quoted to be kept as written.
            fn visit_f64<E: serde::de::Error>(self, n: f64) -> Result<ToolVersion, E> {
                Err(E::custom(format!(
                    "the version {n} is a number to YAML; quote it (\"{n}\") so it is kept exactly as written"
                )))
            }

            fn visit_u64<E: serde::de::Error>(self, n: u64) -> Result<ToolVersion, E> {
                self.visit_f64(n as f64)
            }

            fn visit_i64<E: serde::de::Error>(self, n: i64) -> Result<ToolVersion, E> {
                self.visit_f64(n as f64)
            }
        }

        deserializer.deserialize_any(Visitor)
    }
}

impl JsonSchema for ToolVersion {
    fn schema_name() -> Cow<'static, str> {
        "ToolVersion".into()
    }

    fn json_schema(_generator: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "pattern": CANONICAL_VERSION,
            "description": "One exact version in PEP 440's canonical form, such as \"0.17.6\" or \"2.0.0rc1\"; quote it so YAML keeps it a string. Ranges and requirement operators are refused."
        })
    }
}

/// How the gates run in this repository.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Gates {
    /// Exact versions of the gate tools, installed from the package index
    /// into the repository's environment. Each unset tool keeps Fixwright's pin.
    pub tools: ToolVersions,
    /// Seconds each tool may run before it is stopped (the gate is then an
    /// error, never a pass). Default 600 each.
    pub time_limit_seconds: TimeLimits,
    /// Seconds one test may run before pytest-timeout fails it, so a hanging
    /// test fails alone. Default 60.
    #[schemars(range(min = 1))]
    pub test_timeout_seconds: u64,
}

impl Gates {
    /// Fixwright's default per-test limit.
    pub const TEST_TIMEOUT_SECONDS: u64 = 60;
}

impl Default for Gates {
    fn default() -> Self {
        Self {
            tools: ToolVersions::default(),
            time_limit_seconds: TimeLimits::default(),
            test_timeout_seconds: Self::TEST_TIMEOUT_SECONDS,
        }
    }
}

/// The gate tools' versions. Keys are the tools' PyPI names.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct ToolVersions {
    /// Default "0.17.6".
    pub ruff: ToolVersion,
    /// Default "2.4.1".
    pub mypy: ToolVersion,
    /// Default "9.2.0".
    pub pytest: ToolVersion,
    /// The pytest plugin behind `test_timeout_seconds`. Default "2.4.0".
    #[serde(rename = "pytest-timeout")]
    pub pytest_timeout: ToolVersion,
}

impl Default for ToolVersions {
    /// Fixwright's own pins, the versions its tests run with.
    fn default() -> Self {
        Self {
            ruff: ToolVersion::builtin("0.17.6"),
            mypy: ToolVersion::builtin("2.4.1"),
            pytest: ToolVersion::builtin("9.2.0"),
            pytest_timeout: ToolVersion::builtin("2.4.0"),
        }
    }
}

impl ToolVersions {
    /// `(PyPI name, version)` of every tool, in a fixed order.
    pub fn pins(&self) -> [(&'static str, &ToolVersion); 4] {
        [
            ("ruff", &self.ruff),
            ("mypy", &self.mypy),
            ("pytest", &self.pytest),
            ("pytest-timeout", &self.pytest_timeout),
        ]
    }
}

/// Wall-clock limits of the three gates, in seconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct TimeLimits {
    /// Default 600.
    #[schemars(range(min = 1))]
    pub ruff: u64,
    /// Default 600.
    #[schemars(range(min = 1))]
    pub mypy: u64,
    /// The whole test run. Default 600.
    #[schemars(range(min = 1))]
    pub pytest: u64,
}

impl TimeLimits {
    /// Fixwright's default limit per tool.
    pub const DEFAULT_SECONDS: u64 = 600;
}

impl Default for TimeLimits {
    fn default() -> Self {
        Self {
            ruff: Self::DEFAULT_SECONDS,
            mypy: Self::DEFAULT_SECONDS,
            pytest: Self::DEFAULT_SECONDS,
        }
    }
}
