//! Git over HTTPS as an installation: where a repository is cloned from and
//! the credentials GitHub takes for it (any user name, the installation
//! token as the password). The git work itself is in `repair::workspace`.

use secrecy::SecretString;
use serde::Deserialize;

use super::{GitHubClient, OpsError, Principal};
use crate::github::RepoName;

/// A repository's clone URL and the credentials to fetch it with.
#[derive(Clone)]
pub struct GitRemote {
    /// GitHub's `clone_url` (`https://github.com/owner/repo.git`, or the
    /// Enterprise Server's): never carries the credentials.
    pub url: String,
    pub username: String,
    /// The installation token; valid for about an hour.
    pub password: SecretString,
}

impl std::fmt::Debug for GitRemote {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GitRemote")
            .field("url", &self.url)
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

impl GitHubClient {
    /// The clone URL GitHub reports for `repo`, with this installation's
    /// current token as the password.
    pub async fn git_remote(&self, repo: &RepoName) -> Result<GitRemote, OpsError> {
        let operation = "fetch a repository with git";
        let (Principal::Installation(installation), Some(auth)) = (&self.principal, &self.auth)
        else {
            return Err(OpsError::NoCredentials { operation });
        };
        #[derive(Deserialize)]
        struct Repo {
            clone_url: String,
        }
        let found: Repo = self.repository(repo).await?;
        let token = auth.installation_token(*installation).await?;
        Ok(GitRemote {
            url: found.clone_url,
            username: "x-access-token".to_owned(),
            password: token.token,
        })
    }
}
