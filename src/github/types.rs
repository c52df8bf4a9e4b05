//! Identifier newtypes: a SHA, a PR number or an installation id is never a
//! bare string or integer past the edge.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

macro_rules! numeric_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub u64);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl From<u64> for $name {
            fn from(value: u64) -> Self {
                Self(value)
            }
        }
    };
}

numeric_id!(
    /// A GitHub App's numeric id (the JWT issuer).
    AppId
);
numeric_id!(
    /// One installation of the App on an account; tokens are minted per installation.
    InstallationId
);
numeric_id!(
    /// A pull request's number within its repository.
    PullRequestNumber
);
numeric_id!(
    /// An issue's (or pull request's) number within its repository.
    IssueNumber
);
numeric_id!(
    /// A check run's id.
    CheckRunId
);
numeric_id!(
    /// An issue comment's id.
    CommentId
);
numeric_id!(
    /// A workflow run's id.
    WorkflowRunId
);
numeric_id!(
    /// A repository's numeric id (stable across renames).
    RepositoryId
);
numeric_id!(
    /// The numeric id of one delivery attempt in `GET /app/hook/deliveries`;
    /// redelivery is requested by this id, not by the guid.
    HookDeliveryId
);

impl From<PullRequestNumber> for IssueNumber {
    fn from(value: PullRequestNumber) -> Self {
        Self(value.0)
    }
}

/// A repository named `owner/name`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RepoName {
    owner: String,
    name: String,
}

/// Why a string is not an `owner/name` repository name.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("repository name {0:?} is not of the form owner/name")]
pub struct RepoNameError(pub String);

impl RepoName {
    /// Builds a name from its parts; both must be non-empty and free of `/`.
    pub fn new(owner: impl Into<String>, name: impl Into<String>) -> Result<Self, RepoNameError> {
        let (owner, name) = (owner.into(), name.into());
        let valid = |s: &str| !s.is_empty() && !s.contains('/') && !s.contains(char::is_whitespace);
        if valid(&owner) && valid(&name) {
            Ok(Self { owner, name })
        } else {
            Err(RepoNameError(format!("{owner}/{name}")))
        }
    }

    /// The account (user or organisation) that owns the repository.
    pub fn owner(&self) -> &str {
        &self.owner
    }

    /// The repository's name without its owner.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl FromStr for RepoName {
    type Err = RepoNameError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.split_once('/') {
            Some((owner, name)) => Self::new(owner, name).map_err(|_| RepoNameError(s.to_owned())),
            None => Err(RepoNameError(s.to_owned())),
        }
    }
}

impl fmt::Display for RepoName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.owner, self.name)
    }
}

impl Serialize for RepoName {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for RepoName {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

macro_rules! string_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub String);

        impl $name {
            /// The identifier as GitHub spells it.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl From<&str> for $name {
            fn from(value: &str) -> Self {
                Self(value.to_owned())
            }
        }

        impl From<String> for $name {
            fn from(value: String) -> Self {
                Self(value)
            }
        }
    };
}

string_id!(
    /// A git object id (commit, tree or blob), as the hex string GitHub uses.
    CommitSha
);
string_id!(
    /// The `X-GitHub-Delivery` value: one per event, shared by its redeliveries.
    DeliveryGuid
);
string_id!(
    /// A branch name without `refs/heads/`.
    BranchName
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repo_name_parses_owner_and_name() {
        let repo: RepoName = "octo-org/scrapers".parse().unwrap();
        assert_eq!(repo.owner(), "octo-org");
        assert_eq!(repo.name(), "scrapers");
        assert_eq!(repo.to_string(), "octo-org/scrapers");
    }

    #[test]
    fn repo_name_rejects_malformed() {
        for bad in ["", "noslash", "/name", "owner/", "a/b/c", "a b/c"] {
            assert_eq!(
                bad.parse::<RepoName>(),
                Err(RepoNameError(bad.to_owned())),
                "{bad}"
            );
        }
    }
}
