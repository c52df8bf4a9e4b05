//! The effective policy as text, for `fixwright config check`.

use std::fmt::Write as _;

use super::file::{ALWAYS_PROTECTED, Layout, MergeMethod, RepoPolicy};

/// Renders every effective setting, defaults included, one topic a line.
pub fn effective_policy(policy: &RepoPolicy) -> String {
    let mut out = String::new();
    // Writing to a String cannot fail.
    let _ = render(policy, &mut out);
    out
}

fn render(policy: &RepoPolicy, out: &mut String) -> std::fmt::Result {
    writeln!(out, "mode: {}", policy.mode)?;
    writeln!(
        out,
        "bands: high above {:.2}, medium from {:.2}, low below",
        policy.bands.high, policy.bands.medium
    )?;
    let layout = match policy.scrapers.layout {
        Layout::Auto => "auto (scrapy and flat)",
        Layout::Scrapy => "scrapy",
        Layout::Flat => "flat",
    };
    writeln!(out, "scraper files, layout {layout}:")?;
    for (kind, globs) in policy.scraper_globs_by_kind() {
        let list: Vec<&str> = globs.iter().map(|g| g.as_str()).collect();
        let list = if list.is_empty() {
            "(none)".to_owned()
        } else {
            list.join(", ")
        };
        writeln!(out, "  {kind:<9} {list}")?;
    }
    writeln!(out, "protected paths (always):")?;
    for chunk in ALWAYS_PROTECTED.chunks(6) {
        writeln!(out, "  {}", chunk.join(", "))?;
    }
    if !policy.protected_paths.is_empty() {
        let list: Vec<&str> = policy.protected_paths.iter().map(|g| g.as_str()).collect();
        writeln!(
            out,
            "protected paths (this repository): {}",
            list.join(", ")
        )?;
    }
    writeln!(
        out,
        "limits: at most {} changed lines per fix; {} attempts per incident, then a human",
        policy.limits.max_diff_lines, policy.limits.max_attempts
    )?;
    writeln!(
        out,
        "agent budget: {} calls per hour, {} per day",
        policy.agent_budget.calls_per_hour, policy.agent_budget.calls_per_day
    )?;
    let method = match policy.merge.method {
        MergeMethod::Merge => "merge",
        MergeMethod::Squash => "squash",
        MergeMethod::Rebase => "rebase",
    };
    let reviewers = if policy.merge.reviewers.is_empty() {
        "CODEOWNERS of the scraper's files".to_owned()
    } else {
        policy.merge.reviewers.join(", ")
    };
    writeln!(
        out,
        "merge: auto-merge {}, method {method}, reviewers {reviewers}",
        if policy.merge.auto_merge { "on" } else { "off" }
    )?;
    let gates = &policy.gates;
    let pins: Vec<String> = gates
        .tools
        .pins()
        .iter()
        .map(|(name, version)| format!("{name} {version}"))
        .collect();
    writeln!(out, "gate tools: {}", pins.join(", "))?;
    let limits = &gates.time_limit_seconds;
    writeln!(
        out,
        "gate time limits: ruff {} s, mypy {} s, pytest {} s; {} s per test",
        limits.ruff, limits.mypy, limits.pytest, gates.test_timeout_seconds
    )
}
