//! Repository, branch, ref, git data and contents operations, all read from and
//! written to the repository's real bare git directory.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use git2::{ObjectType, Oid, TreeWalkMode, TreeWalkResult};
use serde_json::{Value, json};

use super::json::{git_commit, repo_commit, repository};
use super::{Ctx, Handled, Reply, not_found};
use crate::github::git::{self, TreeEdit};

pub fn dispatch(op: &str, ctx: &mut Ctx<'_>) -> Option<Handled> {
    Some(match op {
        "repos/get" => ctx
            .repo()
            .map(|r| Reply::json(200, repository(ctx.base, r))),
        "repos/get-branch" => get_branch(ctx),
        "repos/list-branches" => list_branches(ctx),
        "repos/get-commit" => get_repo_commit(ctx),
        "git/get-ref" => get_ref(ctx),
        "git/list-matching-refs" => list_matching_refs(ctx),
        "git/create-ref" => create_ref(ctx),
        "git/update-ref" => update_ref(ctx),
        "git/delete-ref" => delete_ref(ctx),
        "git/create-blob" => create_blob(ctx),
        "git/get-blob" => get_blob(ctx),
        "git/create-tree" => create_tree(ctx),
        "git/get-tree" => get_tree(ctx),
        "git/create-commit" => create_commit(ctx),
        "git/get-commit" => get_git_commit(ctx),
        "repos/get-content" => get_content(ctx),
        "repos/create-or-update-file-contents" => put_content(ctx),
        "repos/get-collaborator-permission-level" => permission(ctx),
        _ => return None,
    })
}

fn unprocessable(message: &str) -> Reply {
    Reply::error(422, message)
}

fn get_branch(ctx: &mut Ctx<'_>) -> Handled {
    let g = ctx.git()?;
    let branch = ctx.param("branch");
    let oid = git::branch_sha(&g, &branch).ok_or_else(|| Reply::error(404, "Branch not found"))?;
    let repo = ctx.repo()?;
    let commit = repo_commit(ctx.base, repo, &g, oid).ok_or_else(not_found)?;
    let full = repo.full_name();
    Ok(Reply::json(
        200,
        json!({
            "name": branch,
            "commit": commit,
            "_links": {
                "self": format!("{}/repos/{full}/branches/{branch}", ctx.base),
                "html": format!("{}/{full}/tree/{branch}", ctx.base),
            },
            "protected": false,
            "protection": { "enabled": false, "required_status_checks": { "enforcement_level": "off", "contexts": [], "checks": [] } },
            "protection_url": format!("{}/repos/{full}/branches/{branch}/protection", ctx.base),
        }),
    ))
}

fn list_branches(ctx: &mut Ctx<'_>) -> Handled {
    let g = ctx.git()?;
    let repo = ctx.repo()?;
    let full = repo.full_name();
    let mut out = Vec::new();
    let refs = g
        .references_glob("refs/heads/*")
        .map_err(|e| Reply::error(500, e.message()))?;
    for r in refs.flatten() {
        let (Some(name), Some(oid)) = (r.shorthand(), r.target()) else {
            continue;
        };
        out.push(json!({
            "name": name,
            "commit": { "sha": oid.to_string(), "url": format!("{}/repos/{full}/commits/{oid}", ctx.base) },
            "protected": false,
        }));
    }
    Ok(Reply::json(200, Value::Array(out)))
}

fn get_repo_commit(ctx: &mut Ctx<'_>) -> Handled {
    let g = ctx.git()?;
    let oid = git::resolve_commit(&g, &ctx.param("ref"))
        .ok_or_else(|| unprocessable("No commit found for SHA"))?;
    let repo = ctx.repo()?;
    let mut commit = repo_commit(ctx.base, repo, &g, oid).ok_or_else(not_found)?;
    commit["files"] = json!([]);
    commit["stats"] = json!({ "additions": 0, "deletions": 0, "total": 0 });
    Ok(Reply::json(200, commit))
}

fn ref_json(ctx: &Ctx<'_>, full_ref: &str, oid: Oid) -> Result<Value, Reply> {
    let full = ctx.repo()?.full_name();
    let short = full_ref.trim_start_matches("refs/");
    Ok(json!({
        "ref": full_ref,
        "node_id": format!("REF_{oid}"),
        "url": format!("{}/repos/{full}/git/refs/{short}", ctx.base),
        "object": {
            "type": "commit",
            "sha": oid.to_string(),
            "url": format!("{}/repos/{full}/git/commits/{oid}", ctx.base),
        },
    }))
}

fn get_ref(ctx: &mut Ctx<'_>) -> Handled {
    let g = ctx.git()?;
    let full_ref = format!("refs/{}", ctx.param("ref"));
    let oid = g
        .find_reference(&full_ref)
        .ok()
        .and_then(|r| r.target())
        .ok_or_else(not_found)?;
    Ok(Reply::json(200, ref_json(ctx, &full_ref, oid)?))
}

fn list_matching_refs(ctx: &mut Ctx<'_>) -> Handled {
    let g = ctx.git()?;
    let prefix = format!("refs/{}", ctx.param("ref"));
    let mut out = Vec::new();
    let refs = g.references().map_err(|e| Reply::error(500, e.message()))?;
    for r in refs.flatten() {
        let (Some(name), Some(oid)) = (r.name(), r.target()) else {
            continue;
        };
        if name.starts_with(&prefix) {
            out.push(ref_json(ctx, name, oid)?);
        }
    }
    Ok(Reply::json(200, Value::Array(out)))
}

fn create_ref(ctx: &mut Ctx<'_>) -> Handled {
    let g = ctx.git()?;
    let full_ref = ctx.str_field("ref").unwrap_or_default().to_string();
    if !full_ref.starts_with("refs/") || full_ref.matches('/').count() < 2 {
        return Err(unprocessable(
            "Reference name must start with 'refs/' and have at least two slashes",
        ));
    }
    let sha = ctx.str_field("sha").unwrap_or_default();
    let oid = Oid::from_str(sha)
        .ok()
        .filter(|o| g.find_commit(*o).is_ok());
    let oid = oid.ok_or_else(|| unprocessable("Object does not exist"))?;
    if g.find_reference(&full_ref).is_ok() {
        return Err(unprocessable("Reference already exists"));
    }
    git::set_ref(&g, &full_ref, oid, "create ref via API").map_err(|e| Reply::error(500, &e))?;
    let body = ref_json(ctx, &full_ref, oid)?;
    let location = body["url"].as_str().unwrap_or_default().to_string();
    Ok(Reply::json(201, body).header("location", location))
}

fn update_ref(ctx: &mut Ctx<'_>) -> Handled {
    let g = ctx.git()?;
    let full_ref = format!("refs/{}", ctx.param("ref"));
    let current = g
        .find_reference(&full_ref)
        .ok()
        .and_then(|r| r.target())
        .ok_or_else(|| unprocessable("Reference does not exist"))?;
    let sha = ctx.str_field("sha").unwrap_or_default();
    let new = Oid::from_str(sha)
        .ok()
        .filter(|o| g.find_commit(*o).is_ok());
    let new = new.ok_or_else(|| unprocessable("Object does not exist"))?;
    let force = ctx.field("force").and_then(Value::as_bool).unwrap_or(false);
    let fast_forward = new == current || g.graph_descendant_of(new, current).unwrap_or(false);
    if !force && !fast_forward {
        return Err(unprocessable("Update is not a fast forward"));
    }
    git::set_ref(&g, &full_ref, new, "update ref via API").map_err(|e| Reply::error(500, &e))?;
    Ok(Reply::json(200, ref_json(ctx, &full_ref, new)?))
}

fn delete_ref(ctx: &mut Ctx<'_>) -> Handled {
    let g = ctx.git()?;
    let full_ref = format!("refs/{}", ctx.param("ref"));
    let mut reference = g
        .find_reference(&full_ref)
        .map_err(|_| unprocessable("Reference does not exist"))?;
    reference
        .delete()
        .map_err(|e| Reply::error(500, e.message()))?;
    Ok(Reply::empty(204))
}

fn create_blob(ctx: &mut Ctx<'_>) -> Handled {
    let g = ctx.git()?;
    let content = ctx.str_field("content").unwrap_or_default();
    let bytes = match ctx.str_field("encoding").unwrap_or("utf-8") {
        "base64" => {
            decode_base64(content).ok_or_else(|| unprocessable("content is not valid base64"))?
        }
        _ => content.as_bytes().to_vec(),
    };
    let oid = g.blob(&bytes).map_err(|e| Reply::error(500, e.message()))?;
    let full = ctx.repo()?.full_name();
    let url = format!("{}/repos/{full}/git/blobs/{oid}", ctx.base);
    Ok(Reply::json(201, json!({ "url": url, "sha": oid.to_string() })).header("location", url))
}

fn get_blob(ctx: &mut Ctx<'_>) -> Handled {
    let g = ctx.git()?;
    let oid = Oid::from_str(&ctx.param("file_sha")).map_err(|_| not_found())?;
    let blob = g.find_blob(oid).map_err(|_| not_found())?;
    let full = ctx.repo()?.full_name();
    Ok(Reply::json(
        200,
        json!({
            "content": STANDARD.encode(blob.content()),
            "encoding": "base64",
            "url": format!("{}/repos/{full}/git/blobs/{oid}", ctx.base),
            "sha": oid.to_string(),
            "size": blob.size(),
            "node_id": format!("B_{oid}"),
        }),
    ))
}

fn decode_base64(content: &str) -> Option<Vec<u8>> {
    let compact: String = content.chars().filter(|c| !c.is_whitespace()).collect();
    STANDARD.decode(compact).ok()
}

fn create_tree(ctx: &mut Ctx<'_>) -> Handled {
    let g = ctx.git()?;
    let base = match ctx.str_field("base_tree") {
        Some(sha) => {
            let oid =
                Oid::from_str(sha).map_err(|_| unprocessable("base_tree is not a valid tree"))?;
            // GitHub accepts a commit SHA as base_tree too.
            let tree = g
                .find_object(oid, None)
                .and_then(|o| o.peel_to_tree())
                .map_err(|_| unprocessable("base_tree is not a valid tree"))?;
            Some(tree.id())
        }
        None => None,
    };
    let entries = ctx
        .field("tree")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut edits = Vec::new();
    for (i, entry) in entries.iter().enumerate() {
        let path = entry
            .get("path")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let mode = entry
            .get("mode")
            .and_then(Value::as_str)
            .unwrap_or("100644");
        let mode = git::parse_mode(mode)
            .ok_or_else(|| unprocessable(&format!("tree.{i}.mode is invalid")))?;
        match (
            entry.get("content").and_then(Value::as_str),
            entry.get("sha"),
        ) {
            (Some(content), _) => edits.push(TreeEdit::Content {
                path,
                content: content.as_bytes().to_vec(),
                mode,
            }),
            (None, Some(Value::Null)) => edits.push(TreeEdit::Remove { path }),
            (None, Some(Value::String(sha))) => {
                let oid = Oid::from_str(sha)
                    .map_err(|_| unprocessable(&format!("tree.{i}.sha is invalid")))?;
                if g.find_object(oid, None).is_err() {
                    return Err(unprocessable(&format!(
                        "tree.{i}.sha {sha} is not a valid object"
                    )));
                }
                edits.push(TreeEdit::Object { path, oid, mode });
            }
            _ => return Err(unprocessable(&format!("tree.{i} needs sha or content"))),
        }
    }
    let tree = git::edit_tree(&g, base, &edits).map_err(|e| Reply::error(422, &e))?;
    let body = tree_json(ctx, &g, tree, false)?;
    Ok(Reply::json(201, body))
}

fn tree_json(
    ctx: &Ctx<'_>,
    g: &git2::Repository,
    oid: Oid,
    recursive: bool,
) -> Result<Value, Reply> {
    let tree = g.find_tree(oid).map_err(|_| not_found())?;
    let full = ctx.repo()?.full_name();
    let base = ctx.base;
    let mut entries = Vec::new();
    let mut push = |root: &str, entry: &git2::TreeEntry<'_>| {
        let kind = match entry.kind() {
            Some(ObjectType::Tree) => "tree",
            Some(ObjectType::Commit) => "commit",
            _ => "blob",
        };
        let path = format!("{root}{}", entry.name().unwrap_or_default());
        let mut item = json!({
            "path": path,
            "mode": git::mode_string(entry.filemode()),
            "type": kind,
            "sha": entry.id().to_string(),
            "url": format!("{base}/repos/{full}/git/{kind}s/{}", entry.id()),
        });
        if kind == "blob"
            && let Ok(blob) = g.find_blob(entry.id())
        {
            item["size"] = json!(blob.size());
        }
        entries.push(item);
    };
    if recursive {
        tree.walk(TreeWalkMode::PreOrder, |root, entry| {
            push(root, entry);
            TreeWalkResult::Ok
        })
        .map_err(|e| Reply::error(500, e.message()))?;
    } else {
        for entry in tree.iter() {
            push("", &entry);
        }
    }
    Ok(json!({
        "sha": oid.to_string(),
        "url": format!("{base}/repos/{full}/git/trees/{oid}"),
        "tree": entries,
        "truncated": false,
    }))
}

fn get_tree(ctx: &mut Ctx<'_>) -> Handled {
    let g = ctx.git()?;
    let name = ctx.param("tree_sha");
    let oid = Oid::from_str(&name)
        .ok()
        .or_else(|| git::resolve_commit(&g, &name))
        .and_then(|o| g.find_object(o, None).ok())
        .and_then(|o| o.peel_to_tree().ok())
        .map(|t| t.id())
        .ok_or_else(not_found)?;
    let recursive = ctx
        .query("recursive")
        .is_some_and(|v| !v.is_empty() && v != "0" && v != "false");
    Ok(Reply::json(200, tree_json(ctx, &g, oid, recursive)?))
}

fn create_commit(ctx: &mut Ctx<'_>) -> Handled {
    let g = ctx.git()?;
    let tree = ctx.str_field("tree").unwrap_or_default();
    let tree = Oid::from_str(tree)
        .ok()
        .filter(|t| g.find_tree(*t).is_ok())
        .ok_or_else(|| unprocessable("Tree SHA does not exist"))?;
    let mut parents = Vec::new();
    for p in ctx
        .field("parents")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let oid = p
            .as_str()
            .and_then(|s| Oid::from_str(s).ok())
            .filter(|o| g.find_commit(*o).is_ok())
            .ok_or_else(|| unprocessable("Parent SHA does not exist or is not a commit object"))?;
        parents.push(oid);
    }
    let bot = ctx.actor();
    let author = ctx.field("author");
    let name = author
        .and_then(|a| a.get("name"))
        .and_then(Value::as_str)
        .unwrap_or(&bot);
    let email = author
        .and_then(|a| a.get("email"))
        .and_then(Value::as_str)
        .unwrap_or("bot@users.noreply.fake-github.invalid");
    let sig = git::signature(name, email).map_err(|e| unprocessable(&e))?;
    let message = ctx.str_field("message").unwrap_or_default();
    let oid =
        git::write_commit(&g, tree, &parents, message, &sig).map_err(|e| Reply::error(422, &e))?;
    let repo = ctx.repo()?;
    let body = git_commit(ctx.base, repo, &g, oid).ok_or_else(not_found)?;
    let location = body["url"].as_str().unwrap_or_default().to_string();
    Ok(Reply::json(201, body).header("location", location))
}

fn get_git_commit(ctx: &mut Ctx<'_>) -> Handled {
    let g = ctx.git()?;
    let oid = Oid::from_str(&ctx.param("commit_sha")).map_err(|_| not_found())?;
    let repo = ctx.repo()?;
    git_commit(ctx.base, repo, &g, oid)
        .map(|c| Reply::json(200, c))
        .ok_or_else(not_found)
}

fn content_file(
    ctx: &Ctx<'_>,
    path: &str,
    blob: Oid,
    bytes: &[u8],
    git_ref: &str,
) -> Result<Value, Reply> {
    let full = ctx.repo()?.full_name();
    let base = ctx.base;
    let encoded = STANDARD.encode(bytes);
    // GitHub wraps the base64 at 60 columns.
    let wrapped: Vec<&str> = encoded
        .as_bytes()
        .chunks(60)
        .map(|c| std::str::from_utf8(c).unwrap_or_default())
        .collect();
    let name = path.rsplit('/').next().unwrap_or(path);
    let url = format!("{base}/repos/{full}/contents/{path}?ref={git_ref}");
    let git_url = format!("{base}/repos/{full}/git/blobs/{blob}");
    let html_url = format!("{base}/{full}/blob/{git_ref}/{path}");
    Ok(json!({
        "type": "file",
        "encoding": "base64",
        "size": bytes.len(),
        "name": name,
        "path": path,
        "content": wrapped.join("\n") + "\n",
        "sha": blob.to_string(),
        "url": url,
        "git_url": git_url,
        "html_url": html_url,
        "download_url": format!("{base}/_fake/raw/{full}/{git_ref}/{path}"),
        "_links": { "self": url, "git": git_url, "html": html_url },
    }))
}

fn get_content(ctx: &mut Ctx<'_>) -> Handled {
    let g = ctx.git()?;
    let default_branch = ctx.repo()?.default_branch.clone();
    let git_ref = ctx.query("ref").unwrap_or(&default_branch).to_string();
    let commit = git::resolve_commit(&g, &git_ref).ok_or_else(not_found)?;
    let path = ctx.param("path").trim_matches('/').to_string();
    let tree = g
        .find_commit(commit)
        .and_then(|c| c.tree())
        .map_err(|_| not_found())?;
    let entry = tree
        .get_path(std::path::Path::new(&path))
        .map_err(|_| not_found())?;
    match entry.kind() {
        Some(ObjectType::Blob) => {
            let blob = g.find_blob(entry.id()).map_err(|_| not_found())?;
            Ok(Reply::json(
                200,
                content_file(ctx, &path, entry.id(), blob.content(), &git_ref)?,
            ))
        }
        Some(ObjectType::Tree) => {
            let sub = g.find_tree(entry.id()).map_err(|_| not_found())?;
            let full = ctx.repo()?.full_name();
            let items: Vec<Value> = sub
                .iter()
                .map(|e| {
                    let child = format!("{path}/{}", e.name().unwrap_or_default());
                    let kind = if e.kind() == Some(ObjectType::Tree) {
                        "dir"
                    } else {
                        "file"
                    };
                    let url = format!("{}/repos/{full}/contents/{child}?ref={git_ref}", ctx.base);
                    json!({
                        "type": kind,
                        "size": 0,
                        "name": e.name().unwrap_or_default(),
                        "path": child,
                        "sha": e.id().to_string(),
                        "url": url,
                        "git_url": null,
                        "html_url": null,
                        "download_url": null,
                        "_links": { "self": url, "git": null, "html": null },
                    })
                })
                .collect();
            Ok(Reply::json(200, Value::Array(items)))
        }
        _ => Err(not_found()),
    }
}

fn put_content(ctx: &mut Ctx<'_>) -> Handled {
    let g = ctx.git()?;
    let default_branch = ctx.repo()?.default_branch.clone();
    let branch = ctx
        .str_field("branch")
        .unwrap_or(&default_branch)
        .to_string();
    let path = ctx.param("path").trim_matches('/').to_string();
    let content = decode_base64(ctx.str_field("content").unwrap_or_default())
        .ok_or_else(|| unprocessable("content is not valid Base64"))?;
    let head = git::branch_sha(&g, &branch);
    let existing = head.and_then(|h| git::blob_at(&g, h, &path));
    match (&existing, ctx.str_field("sha")) {
        (Some(_), None) => {
            return Err(unprocessable(
                "Invalid request.\n\n\"sha\" wasn't supplied.",
            ));
        }
        (Some((oid, _)), Some(sha)) if oid.to_string() != sha => {
            return Err(Reply::error(409, &format!("{path} does not match {sha}")));
        }
        _ => {}
    }
    if head.is_none() && branch != default_branch {
        return Err(Reply::error(404, &format!("Branch {branch} not found")));
    }
    let bot = ctx.actor();
    let author = ctx.field("author").or_else(|| ctx.field("committer"));
    let name = author
        .and_then(|a| a.get("name"))
        .and_then(Value::as_str)
        .unwrap_or(&bot);
    let email = author
        .and_then(|a| a.get("email"))
        .and_then(Value::as_str)
        .unwrap_or("bot@users.noreply.fake-github.invalid");
    let sig = git::signature(name, email).map_err(|e| unprocessable(&e))?;
    let message = ctx.str_field("message").unwrap_or_default().to_string();
    let edit = TreeEdit::Content {
        path: path.clone(),
        content: content.clone(),
        mode: git2::FileMode::Blob,
    };
    let commit = git::commit_on_branch(&g, &branch, None, &[edit], &message, &sig)
        .map_err(|e| Reply::error(500, &e))?;
    let blob = git::blob_at(&g, commit, &path)
        .map(|(o, _)| o)
        .ok_or_else(not_found)?;
    let file = content_file(ctx, &path, blob, &content, &branch)?;
    let repo = ctx.repo()?;
    let commit_json = git_commit(ctx.base, repo, &g, commit).ok_or_else(not_found)?;
    let status = if existing.is_some() { 200 } else { 201 };
    let mut file = file;
    if let Some(map) = file.as_object_mut() {
        map.remove("content");
        map.remove("encoding");
    }
    Ok(Reply::json(
        status,
        json!({ "content": file, "commit": commit_json }),
    ))
}

fn permission(ctx: &mut Ctx<'_>) -> Handled {
    let login = ctx.param("username");
    let repo = ctx.repo()?;
    let level = repo.permissions.get(&login).cloned();
    let level = level.ok_or_else(|| Reply::error(404, &format!("{login} is not a user")))?;
    // The REST `permission` field only knows admin/write/read/none; the role keeps the detail.
    let permission = match level.as_str() {
        "admin" => "admin",
        "maintain" | "write" => "write",
        "triage" | "read" => "read",
        _ => "none",
    };
    let mut user = super::json::user(ctx.base, &login);
    user["permissions"] = json!({
        "admin": permission == "admin",
        "maintain": level == "maintain" || permission == "admin",
        "push": permission == "write" || permission == "admin",
        "triage": permission != "none",
        "pull": permission != "none",
    });
    user["role_name"] = json!(level);
    Ok(Reply::json(
        200,
        json!({ "permission": permission, "role_name": level, "user": user }),
    ))
}
