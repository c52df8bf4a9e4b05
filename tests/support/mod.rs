//! Test support shared by several test files (`mod support;`).

use std::path::Path;
use std::sync::Arc;

use fixwright::github::auth::{AppAuth, AppSettings, SystemClock};
use fixwright::github::ops::GitHubClient;
use fixwright::github::{AppId, CommitSha, InstallationId, RepoName};
use fixwright_testkit::FakeGitHub;

/// The fake GitHub with one installation on `acme` and its repository
/// `acme/scrapers` (one commit), and a client acting as that installation.
pub struct FakeRepo {
    pub fake: FakeGitHub,
    pub client: GitHubClient,
    pub name: RepoName,
    /// The repository's one commit.
    pub head: CommitSha,
}

pub async fn fake_scrapers_repo() -> FakeRepo {
    let fake = FakeGitHub::start()
        .await
        .unwrap_or_else(|e| panic!("fake GitHub (run `bash scripts/test-setup`): {e}"));
    let installation = fake.add_installation("acme");
    let sha = fake
        .add_repo(
            installation,
            "acme",
            "scrapers",
            &[("README.md", "scrapers\n")],
        )
        .unwrap_or_else(|e| panic!("seed: {e}"));
    let base = url::Url::parse(&fake.base_url()).unwrap_or_else(|e| panic!("url: {e}"));
    let auth = AppAuth::from_pem(
        AppSettings::new(AppId(fake.app_id()), base),
        fake.app_private_key_pem().as_bytes(),
        Path::new("fake.pem"),
        Arc::new(SystemClock),
    )
    .unwrap_or_else(|e| panic!("auth: {e}"));
    let client = Arc::new(auth).installation_client(InstallationId(installation));
    FakeRepo {
        fake,
        client,
        name: RepoName::new("acme", "scrapers").unwrap_or_else(|e| panic!("{e}")),
        head: CommitSha::from(sha),
    }
}
