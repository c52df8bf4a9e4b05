//! Branches, git data (blobs, trees, commits) and file contents.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use http::{Method, StatusCode};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::http_call::{Call, path};
use super::{GitHubClient, OpsError, repo_path};
use crate::github::retry::Replay;
use crate::github::{BranchName, CommitSha, RepoName};

#[derive(Deserialize)]
struct ShaOnly {
    sha: CommitSha,
}

#[derive(Deserialize)]
struct GitRef {
    object: ShaOnly,
}

/// A file mode in a git tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum FileMode {
    #[serde(rename = "100644")]
    File,
    #[serde(rename = "100755")]
    Executable,
}

/// One change in a tree built on a base tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TreeChange {
    /// Put the blob `sha` at `path`.
    Write {
        path: String,
        mode: FileMode,
        sha: CommitSha,
    },
    /// Remove `path`.
    Delete { path: String },
}

impl TreeChange {
    fn to_json(&self) -> serde_json::Value {
        match self {
            Self::Write { path, mode, sha } => {
                json!({"path": path, "mode": mode, "type": "blob", "sha": sha})
            }
            Self::Delete { path } => {
                json!({"path": path, "mode": FileMode::File, "type": "blob", "sha": null})
            }
        }
    }
}

/// A git commit as the git data API returns it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct GitCommit {
    pub sha: CommitSha,
    pub message: String,
    pub tree: GitTreeRef,
    pub parents: Vec<GitParent>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct GitTreeRef {
    pub sha: CommitSha,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct GitParent {
    pub sha: CommitSha,
}

/// A file's bytes at a ref, and its blob sha.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileContent {
    pub path: String,
    pub sha: CommitSha,
    pub bytes: Vec<u8>,
}

#[derive(Deserialize)]
struct ContentsFile {
    #[serde(rename = "type")]
    kind: String,
    path: String,
    sha: CommitSha,
    #[serde(default)]
    content: String,
    #[serde(default)]
    encoding: String,
}

fn heads(branch: &BranchName) -> String {
    format!("heads/{}", path(branch.as_str()))
}

impl GitHubClient {
    /// The commit `branch` points at, or `None` if there is no such branch.
    pub async fn branch_sha(
        &self,
        repo: &RepoName,
        branch: &BranchName,
    ) -> Result<Option<CommitSha>, OpsError> {
        let call = Call::get(
            "read a branch",
            format!("{}/git/ref/{}", repo_path(repo), heads(branch)),
        );
        match self.fetch::<GitRef>(call).await {
            Ok(r) => Ok(Some(r.object.sha)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The repository's default branch.
    pub async fn default_branch(&self, repo: &RepoName) -> Result<BranchName, OpsError> {
        #[derive(Deserialize)]
        struct Repo {
            default_branch: BranchName,
        }
        let found: Repo = self.repository(repo).await?;
        Ok(found.default_branch)
    }

    /// Reads a repository into `T`, a small model of just the fields the
    /// caller needs: Octocrab's full `Repository` model must parse dozens of
    /// URL fields to read one.
    pub(super) async fn repository<T: serde::de::DeserializeOwned>(
        &self,
        repo: &RepoName,
    ) -> Result<T, OpsError> {
        let route = repo_path(repo);
        self.typed("read a repository", Replay::Safe, |octo| {
            let route = route.clone();
            async move { octo.get(route, None::<&()>).await }
        })
        .await
    }

    /// Creates `branch` at `sha`. Succeeds if the branch already points at
    /// `sha` (an earlier attempt made it); fails if it points elsewhere.
    pub async fn create_branch(
        &self,
        repo: &RepoName,
        branch: &BranchName,
        sha: &CommitSha,
    ) -> Result<(), OpsError> {
        let operation = "create a branch";
        let call = Call::new(
            operation,
            Method::POST,
            format!("{}/git/refs", repo_path(repo)),
        )
        .json(json!({"ref": format!("refs/heads/{branch}"), "sha": sha}));
        let already_there = || async {
            Ok(match self.branch_sha(repo, branch).await? {
                Some(existing) if &existing == sha => Some(()),
                _ => None,
            })
        };
        match self.send_checked(call, |_| Ok(()), already_there).await {
            Err(e) if e.status() == Some(StatusCode::UNPROCESSABLE_ENTITY) => {
                match self.branch_sha(repo, branch).await? {
                    Some(existing) if &existing == sha => Ok(()),
                    Some(existing) => Err(OpsError::Unexpected {
                        operation,
                        detail: format!("branch {branch} already exists at {existing}, not {sha}"),
                    }),
                    None => Err(e),
                }
            }
            other => other,
        }
    }

    /// Moves `branch` to `sha` (`force` allows a non-fast-forward).
    pub async fn update_branch(
        &self,
        repo: &RepoName,
        branch: &BranchName,
        sha: &CommitSha,
        force: bool,
    ) -> Result<(), OpsError> {
        let call = Call::new(
            "update a branch",
            Method::PATCH,
            format!("{}/git/refs/{}", repo_path(repo), heads(branch)),
        )
        .json(json!({"sha": sha, "force": force}));
        self.send(call).await.map(drop)
    }

    /// Deletes `branch`; a branch that is already gone counts as deleted.
    pub async fn delete_branch(
        &self,
        repo: &RepoName,
        branch: &BranchName,
    ) -> Result<(), OpsError> {
        let call = Call::new(
            "delete a branch",
            Method::DELETE,
            format!("{}/git/refs/{}", repo_path(repo), heads(branch)),
        );
        match self.send(call).await {
            Err(e)
                if matches!(
                    e.status(),
                    Some(StatusCode::NOT_FOUND | StatusCode::UNPROCESSABLE_ENTITY)
                ) =>
            {
                Ok(())
            }
            other => other.map(drop),
        }
    }

    /// Stores `content` as a blob and returns its sha.
    pub async fn create_blob(
        &self,
        repo: &RepoName,
        content: &[u8],
    ) -> Result<CommitSha, OpsError> {
        // Blobs are content-addressed: storing one twice changes nothing.
        let call = Call::new(
            "create a blob",
            Method::POST,
            format!("{}/git/blobs", repo_path(repo)),
        )
        .json(json!({"content": BASE64.encode(content), "encoding": "base64"}))
        .replay_safe();
        Ok(self.fetch::<ShaOnly>(call).await?.sha)
    }

    /// Builds a tree from `base_tree` with `changes` applied and returns its sha.
    pub async fn create_tree(
        &self,
        repo: &RepoName,
        base_tree: &CommitSha,
        changes: &[TreeChange],
    ) -> Result<CommitSha, OpsError> {
        let tree: Vec<_> = changes.iter().map(TreeChange::to_json).collect();
        let call = Call::new(
            "create a tree",
            Method::POST,
            format!("{}/git/trees", repo_path(repo)),
        )
        .json(json!({"base_tree": base_tree, "tree": tree}))
        .replay_safe();
        Ok(self.fetch::<ShaOnly>(call).await?.sha)
    }

    /// Creates a commit of `tree` on `parents` and returns it. Nothing points
    /// at a new commit until a branch is moved, so a repeated attempt leaves
    /// at most an unreferenced commit behind.
    pub async fn create_commit(
        &self,
        repo: &RepoName,
        message: &str,
        tree: &CommitSha,
        parents: &[CommitSha],
    ) -> Result<GitCommit, OpsError> {
        let call = Call::new(
            "create a commit",
            Method::POST,
            format!("{}/git/commits", repo_path(repo)),
        )
        .json(json!({"message": message, "tree": tree, "parents": parents}))
        .replay_safe();
        self.fetch(call).await
    }

    /// Reads a commit's tree and parents.
    pub async fn get_commit(
        &self,
        repo: &RepoName,
        sha: &CommitSha,
    ) -> Result<GitCommit, OpsError> {
        self.fetch(Call::get(
            "read a commit",
            format!("{}/git/commits/{}", repo_path(repo), sha),
        ))
        .await
    }

    /// The file at `file_path` on `git_ref`, or `None` if there is none.
    /// A directory at that path is an error.
    pub async fn get_file(
        &self,
        repo: &RepoName,
        file_path: &str,
        git_ref: &str,
    ) -> Result<Option<FileContent>, OpsError> {
        let operation = "read a file";
        let route = format!(
            "{}/contents/{}?ref={}",
            repo_path(repo),
            path(file_path.trim_start_matches('/')),
            super::http_call::segment(git_ref)
        );
        let value: serde_json::Value = match self.fetch(Call::get(operation, route)).await {
            Ok(v) => v,
            Err(e) if e.is_not_found() => return Ok(None),
            Err(e) => return Err(e),
        };
        if value.is_array() {
            return Err(OpsError::Unexpected {
                operation,
                detail: format!("{file_path} is a directory"),
            });
        }
        let file: ContentsFile = serde_json::from_value(value)
            .map_err(|source| OpsError::Decode { operation, source })?;
        if file.kind != "file" || file.encoding != "base64" {
            return Err(OpsError::Unexpected {
                operation,
                detail: format!(
                    "{file_path} is a {} with encoding {:?}",
                    file.kind, file.encoding
                ),
            });
        }
        let cleaned: String = file
            .content
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect();
        let bytes = BASE64.decode(cleaned).map_err(|e| OpsError::Unexpected {
            operation,
            detail: format!("{file_path} content is not base64: {e}"),
        })?;
        Ok(Some(FileContent {
            path: file.path,
            sha: file.sha,
            bytes,
        }))
    }
}
