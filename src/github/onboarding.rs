//! A repository joining an installation (the App installed on it, or the
//! repository added to an installation) gets Fixwright's labels, so pull
//! requests can be labelled by band from the first fix on.
//!
//! [`joined_repositories`] and [`missing_labels`] decide (pure);
//! [`Onboarding`] is the inbox handler that acts, with the installation's token.

use std::path::Path;
use std::sync::Arc;

use futures::future::BoxFuture;

use super::events::{Event, InstallationAction, InstallationRepositoriesAction};
use super::ops::pulls::Label;
use super::{AppAuth, GitHubClient, InstallationId, OpsError, RepoName};
use crate::confidence::band::Band;
use crate::inbox::{Delivery, DeliveryHandler, HandlerError};
use crate::policy::file::POLICY_FILE;
use crate::policy::{Mode, RepoPolicy, effective_mode};

/// A label Fixwright applies, with the colour and description it is created with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LabelSpec {
    pub name: &'static str,
    /// Six hex digits, no `#`.
    pub color: &'static str,
    pub description: &'static str,
}

/// Every label Fixwright applies: its own, and one per band.
pub const LABELS: [LabelSpec; 4] = [
    LabelSpec {
        name: "fixwright",
        color: "5319e7",
        description: "A fix proposed by Fixwright",
    },
    LabelSpec {
        name: Band::High.label(),
        color: "0e8a16",
        description: "Fixwright is sure of this fix: merged when every gate is green",
    },
    LabelSpec {
        name: Band::Medium.label(),
        color: "fbca04",
        description: "Fixwright is fairly sure of this fix: a human reviews it",
    },
    LabelSpec {
        name: Band::Low.label(),
        color: "d93f0b",
        description: "Fixwright is unsure of this fix: a human takes over",
    },
];

/// The repositories an event gives the App access to, with their installation:
/// those granted when the App is installed, and those added to an installation.
pub fn joined_repositories(event: &Event) -> Option<(InstallationId, Vec<RepoName>)> {
    match event {
        Event::Installation(e) if e.action == InstallationAction::Created => {
            let repos = e.repositories.iter().flatten();
            Some((
                e.installation.id,
                repos.map(|r| r.full_name.clone()).collect(),
            ))
        }
        Event::InstallationRepositories(e) if e.action == InstallationRepositoriesAction::Added => {
            let repos = e.repositories_added.iter();
            Some((
                e.installation.id,
                repos.map(|r| r.full_name.clone()).collect(),
            ))
        }
        _ => None,
    }
}

/// Fixwright's labels the repository lacks. GitHub compares label names
/// without regard to case, and so does this.
pub fn missing_labels(existing: &[Label]) -> Vec<LabelSpec> {
    LABELS
        .into_iter()
        .filter(|spec| {
            !existing
                .iter()
                .any(|label| label.name.eq_ignore_ascii_case(spec.name))
        })
        .collect()
}

/// What onboarding did for one repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Onboarded {
    /// These labels were created (none if all were there).
    Labelled(Vec<&'static str>),
    /// The mode in force writes nothing there (`off` or `dry-run`).
    Skipped(Mode),
}

/// Why a repository could not be onboarded.
#[derive(Debug, thiserror::Error)]
pub enum OnboardingError {
    #[error(transparent)]
    GitHub(#[from] OpsError),
    #[error("{repo}: {source}")]
    Policy {
        repo: RepoName,
        #[source]
        source: Box<crate::policy::PolicyError>,
    },
}

/// Onboards `repo`: reads its `.github/fixwright.yml` from the default
/// branch, and unless the mode in force (the stricter of `global` and the
/// file's) forbids writes, creates the labels it lacks. Safe to repeat.
pub async fn onboard(
    client: &GitHubClient,
    repo: &RepoName,
    global: Mode,
) -> Result<Onboarded, OnboardingError> {
    if !global.writes() {
        return Ok(Onboarded::Skipped(global));
    }
    let branch = client.default_branch(repo).await?;
    let policy = match client.get_file(repo, POLICY_FILE, branch.as_str()).await? {
        Some(file) => {
            let text = String::from_utf8_lossy(&file.bytes);
            RepoPolicy::parse(&text, Path::new(POLICY_FILE)).map_err(|source| {
                OnboardingError::Policy {
                    repo: repo.clone(),
                    source: Box::new(source),
                }
            })?
        }
        None => RepoPolicy::default(),
    };
    let mode = effective_mode(global, policy.mode);
    if !mode.writes() {
        return Ok(Onboarded::Skipped(mode));
    }
    let existing = client.list_repo_labels(repo).await?;
    let mut created = Vec::new();
    for spec in missing_labels(&existing) {
        client
            .ensure_label(repo, spec.name, spec.color, spec.description)
            .await?;
        created.push(spec.name);
    }
    Ok(Onboarded::Labelled(created))
}

/// The inbox handler: hands every delivery to `inner` first,
/// then onboards the repositories an installation event gives access to.
pub struct Onboarding {
    app: Arc<AppAuth>,
    inner: Arc<dyn DeliveryHandler>,
    global: Mode,
}

impl Onboarding {
    /// `global` is Fixwright's own switch (`mode` in its configuration).
    pub fn new(app: Arc<AppAuth>, inner: Arc<dyn DeliveryHandler>, global: Mode) -> Self {
        Self { app, inner, global }
    }

    async fn handle_delivery(&self, delivery: &Delivery) -> Result<(), HandlerError> {
        self.inner.handle(delivery).await?;
        if !matches!(
            delivery.event.as_str(),
            "installation" | "installation_repositories"
        ) {
            return Ok(());
        }
        let event = Event::parse(&delivery.event, &delivery.body)
            .map_err(|e| HandlerError::permanent(e.to_string()))?;
        let Some((installation, repos)) = joined_repositories(&event) else {
            return Ok(());
        };
        let client = self.app.installation_client(installation);
        for repo in &repos {
            match onboard(&client, repo, self.global).await {
                Ok(Onboarded::Labelled(created)) => {
                    tracing::info!(%repo, ?created, "repository onboarded: Fixwright's labels are there");
                }
                Ok(Onboarded::Skipped(mode)) => {
                    tracing::info!(%repo, %mode, "repository not onboarded: the mode in force writes nothing");
                }
                // The repository went away, or access to it did, since the event.
                Err(OnboardingError::GitHub(e)) if e.is_not_found() => {
                    tracing::warn!(%repo, error = %e, "repository not reachable; not onboarded");
                }
                // A broken policy file is the repository's to fix (`fixwright config check`
                // says how); retrying would not help, and other repositories go on.
                Err(e @ OnboardingError::Policy { .. }) => {
                    tracing::warn!(%repo, error = %e, "repository not onboarded: its policy file is invalid");
                }
                Err(OnboardingError::GitHub(e)) => {
                    return Err(HandlerError::transient(format!("onboarding {repo}: {e}")));
                }
            }
        }
        Ok(())
    }
}

impl DeliveryHandler for Onboarding {
    fn handle<'a>(&'a self, delivery: &'a Delivery) -> BoxFuture<'a, Result<(), HandlerError>> {
        Box::pin(self.handle_delivery(delivery))
    }

    fn observe<'a>(&'a self, delivery: &'a Delivery) -> BoxFuture<'a, Result<(), HandlerError>> {
        self.inner.observe(delivery)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn label(name: &str) -> Label {
        Label {
            name: name.into(),
            color: "ededed".into(),
            description: None,
        }
    }

    #[test]
    fn only_absent_labels_are_missing_whatever_their_case() {
        let existing = [label("bug"), label("Fixwright"), label("fixwright: HIGH")];
        let missing: Vec<&str> = missing_labels(&existing).iter().map(|l| l.name).collect();
        assert_eq!(missing, ["fixwright: medium", "fixwright: low"]);
        assert!(missing_labels(&LABELS.map(|l| label(l.name))).is_empty());
    }

    #[test]
    fn labels_are_valid_for_github() {
        for spec in LABELS {
            assert_eq!(spec.color.len(), 6, "{spec:?}");
            assert!(
                spec.color.chars().all(|c| c.is_ascii_hexdigit()),
                "{spec:?}"
            );
            assert!(spec.description.len() <= 100, "{spec:?}");
        }
    }

    #[test]
    fn installs_and_added_repositories_join_other_events_do_not() {
        let installed = br#"{"action":"created",
            "installation":{"id":7,"app_id":1,"account":{"id":1,"login":"acme","type":"Organization"}},
            "repositories":[{"id":3,"full_name":"acme/scrapers","name":"scrapers","private":true}],
            "sender":{"id":2,"login":"alice","type":"User"}}"#;
        let event = Event::parse("installation", installed).unwrap();
        let (installation, repos) = joined_repositories(&event).unwrap();
        assert_eq!(installation, InstallationId(7));
        assert_eq!(repos, ["acme/scrapers".parse::<RepoName>().unwrap()]);

        let added = br#"{"action":"added",
            "installation":{"id":7,"app_id":1,"account":{"id":1,"login":"acme","type":"Organization"}},
            "repository_selection":"selected",
            "repositories_added":[{"id":4,"full_name":"acme/more","name":"more","private":false}],
            "repositories_removed":[],
            "sender":{"id":2,"login":"alice","type":"User"}}"#;
        let event = Event::parse("installation_repositories", added).unwrap();
        assert_eq!(
            joined_repositories(&event).map(|(_, r)| r),
            Some(vec!["acme/more".parse::<RepoName>().unwrap()])
        );

        let removed = br#"{"action":"removed",
            "installation":{"id":7,"app_id":1,"account":{"id":1,"login":"acme","type":"Organization"}},
            "repository_selection":"selected","repositories_added":[],
            "repositories_removed":[{"id":4,"full_name":"acme/more","name":"more","private":false}],
            "sender":{"id":2,"login":"alice","type":"User"}}"#;
        let event = Event::parse("installation_repositories", removed).unwrap();
        assert_eq!(joined_repositories(&event), None);
    }
}
