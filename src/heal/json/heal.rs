//! Key-drift healing: given the old response, the new one and the path the
//! scraper reads, find where the same field lives now.
//!
//! Every scalar field pattern of the new document (array indices folded to
//! `[*]`) is a candidate. Each is scored on independent signals: whether the
//! pattern is new (a field that already existed is a different field), the
//! keys around it (siblings of the renamed key, or the record that gained a
//! wrapper), the name, the path shape, the kind of values (type, shape,
//! length, count) and the values themselves. Values equal to the old ones
//! count only as far as the rest of the document kept its data: when the
//! records changed but one block still holds exactly the old values, that
//! block is a stale copy (a "recently viewed" list), not the field.

use std::collections::HashSet;

use serde_json::Value;

use super::path::{JsonPath, Loc, Step, normalise, python_str};
use super::similarity::{jaccard, name_similarity, value_profile_similarity};
use crate::heal::{Heal, HealOutcome, Selector, SelectorKind};

/// Below this the healer refuses rather than propose a path.
const PROPOSE_FLOOR: f64 = 0.30;
/// How many object ancestors of a field take part in the context comparison.
const CONTEXT_LEVELS: usize = 3;
/// How many matches are sampled to describe a field's context.
const CONTEXT_SAMPLE: usize = 60;

/// Heals a JSON path selector. `old` and `new` are the raw response bodies.
pub fn heal(old: &str, new: &str, selector: &Selector) -> HealOutcome {
    if selector.kind != SelectorKind::JsonPath {
        return refuse(
            format!("{:?} selector given to the JSON healer", selector.kind),
            0.0,
        );
    }
    let path: JsonPath = match selector.expr.parse() {
        Ok(p) => p,
        Err(e) => return refuse(e.to_string(), 0.0),
    };
    let old: Value = match serde_json::from_str(old) {
        Ok(v) => v,
        Err(e) => return refuse(format!("old response is not JSON: {e}"), 0.0),
    };
    let new: Value = match serde_json::from_str(new) {
        Ok(v) => v,
        Err(e) => return refuse(format!("new response is not JSON: {e}"), 0.0),
    };
    heal_documents(&old, &new, &path)
}

/// Heals `path` between two parsed documents; see the module docs.
pub fn heal_documents(old: &Value, new: &Value, path: &JsonPath) -> HealOutcome {
    heal_documents_with(old, new, path, &[])
}

/// How much a candidate that a remembered rename predicts gains: enough to settle
/// a near tie between two fields, not enough to lift a field that does not fit.
const REMEMBERED_BONUS: f64 = 0.15;

/// [`heal_documents`], preferring the paths that `renames` (key renames, or whole
/// paths, that fixed this error class on this host before, as `(old, new)`) make
/// of `path`. A remembered path is scored on the same signals as any other
/// candidate and then gains [`REMEMBERED_BONUS`].
pub fn heal_documents_with(
    old: &Value,
    new: &Value,
    path: &JsonPath,
    renames: &[(String, String)],
) -> HealOutcome {
    let old_values = path.extract(old);
    if old_values.is_empty() {
        return refuse(
            format!("{path} extracts nothing from the old response"),
            0.0,
        );
    }
    if !path.extract(new).is_empty() {
        return HealOutcome::Unchanged;
    }
    let old_matches = scalar_locs(path, old);
    let old_field = FieldView::new(old, path_keys(path), &old_matches, old_values.clone());

    let kept = kept_fraction(old, new, &old_values);
    let anchor = surviving_prefix(old, new, path);

    let remembered = remembered_paths(path, renames);
    let mut scored: Vec<Scored> = Vec::new();
    let mut seen: HashSet<JsonPath> = HashSet::new();
    let candidates = distinct_patterns(new)
        .into_iter()
        .flat_map(|pat| concretise(&pat, path))
        .chain(remembered.iter().cloned());
    for candidate in candidates {
        if !seen.insert(candidate.clone()) {
            continue;
        }
        let values = candidate.extract(new);
        if values.is_empty() {
            continue;
        }
        let matches = scalar_locs(&candidate, new);
        let view = FieldView::new(new, path_keys(&candidate), &matches, values);
        // A path that already read something else in the old response is
        // another field, not the one that moved.
        let before = candidate.extract(old);
        let other_field = !before.is_empty() && before != old_values;
        // A path that already mirrored the same values is a weaker
        // answer than the key the old one was renamed to.
        let mirror = !before.is_empty() && before == old_values;
        let place = Placement::of(&anchor, path, &candidate);
        let mut s = score(&old_field, &view, other_field, kept, place);
        if mirror {
            s.total *= 0.9;
        }
        let is_remembered = remembered.contains(&candidate);
        if is_remembered {
            s.total = (s.total + REMEMBERED_BONUS).min(1.0);
        }
        scored.push(Scored {
            path: candidate,
            values: view.values,
            signals: s,
            remembered: is_remembered,
        });
    }
    scored.sort_by(|a, b| b.signals.total.total_cmp(&a.signals.total));
    let Some(best) = scored.first() else {
        return refuse(
            format!("no field of the new response can stand in for {path}: the data is gone"),
            0.0,
        );
    };
    // Two different answers that look almost as good make either one a guess.
    let runner_up = scored.get(1).map_or(0.0, |s| s.signals.total);
    let margin = best.signals.total - runner_up;
    let ambiguity = (0.12 - margin).max(0.0) * 1.5;
    let final_score = (best.signals.total - ambiguity).clamp(0.0, 1.0);
    if final_score < PROPOSE_FLOOR {
        return refuse(
            format!(
                "no field of the new response matches {path} well enough (best {} at {:.2}): the data looks gone",
                best.path, final_score
            ),
            final_score,
        );
    }
    HealOutcome::Healed(Heal {
        selector: Selector {
            kind: SelectorKind::JsonPath,
            expr: best.path.to_string(),
        },
        score: final_score,
        values: best.values.clone(),
        rationale: format!(
            "{path} -> {}: {}{}; runner-up margin {margin:.2}",
            best.path,
            best.signals,
            if best.remembered {
                "; a remembered rename"
            } else {
                ""
            }
        ),
    })
}

/// Where `path` reads a scalar value (not null) in `doc`.
fn scalar_locs(path: &JsonPath, doc: &Value) -> Vec<Vec<Loc>> {
    path.select(doc)
        .into_iter()
        .filter(|m| !m.value.is_null() && python_str(m.value).is_some())
        .map(|m| m.loc)
        .collect()
}

fn refuse(reason: String, score: f64) -> HealOutcome {
    HealOutcome::Refused { reason, score }
}

/// A path pattern: keys, with every array step folded to `Arr`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum PStep {
    Key(String),
    Arr,
}
type Pattern = Vec<PStep>;

fn pattern(loc: &[Loc]) -> Pattern {
    loc.iter()
        .map(|l| match l {
            Loc::Key(k) => PStep::Key(k.clone()),
            Loc::Index(_) => PStep::Arr,
        })
        .collect()
}

struct Leaf<'a>(Vec<Loc>, &'a Value);

/// Every scalar of the document with its location, in document order.
fn leaves(doc: &Value) -> Vec<Leaf<'_>> {
    fn walk<'a>(v: &'a Value, loc: &mut Vec<Loc>, out: &mut Vec<Leaf<'a>>) {
        match v {
            Value::Object(map) => {
                for (k, child) in map {
                    loc.push(Loc::Key(k.clone()));
                    walk(child, loc, out);
                    loc.pop();
                }
            }
            Value::Array(items) => {
                for (i, child) in items.iter().enumerate() {
                    loc.push(Loc::Index(i));
                    walk(child, loc, out);
                    loc.pop();
                }
            }
            _ => out.push(Leaf(loc.clone(), v)),
        }
    }
    let mut out = Vec::new();
    walk(doc, &mut Vec::new(), &mut out);
    out
}

/// The scalar field patterns of a document, in document order.
fn distinct_patterns(doc: &Value) -> Vec<Pattern> {
    let mut seen = HashSet::new();
    leaves(doc)
        .into_iter()
        .map(|l| pattern(&l.0))
        .filter(|p| seen.insert(p.clone()))
        .collect()
}

/// The longest leading part of the old path that still reaches containers in
/// the new document: the part of the structure that did not drift.
fn surviving_prefix(old: &Value, new: &Value, path: &JsonPath) -> JsonPath {
    let mut best = JsonPath { steps: Vec::new() };
    for n in 1..path.steps.len() {
        let prefix = JsonPath {
            steps: path.steps[..n].to_vec(),
        };
        // The same kind of containers (objects, or arrays) on both sides.
        let containers = |doc: &Value| -> Option<(bool, bool)> {
            let found = prefix.select(doc);
            let objects = found.iter().any(|m| m.value.is_object());
            let arrays = found.iter().any(|m| m.value.is_array());
            (objects || arrays).then_some((objects, arrays))
        };
        let (was, is) = (containers(old), containers(new));
        if was.is_some() && was == is {
            best = prefix;
        } else {
            break;
        }
    }
    best
}

/// Where a candidate sits relative to the part of the old path that survived.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Placement {
    /// Only the root survived: placement says nothing.
    Unanchored,
    /// Under the surviving part of the old path.
    Inside,
    /// Elsewhere, although part of the old path still exists.
    Outside,
}

impl Placement {
    fn of(anchor: &JsonPath, _old: &JsonPath, candidate: &JsonPath) -> Placement {
        if anchor.steps.is_empty() {
            Placement::Unanchored
        } else if candidate.steps.starts_with(&anchor.steps) {
            Placement::Inside
        } else {
            Placement::Outside
        }
    }
}

/// Turns a pattern into selectors, keeping the old path's concrete indices
/// where the array is the same one (same keys before it) and `[*]` elsewhere;
/// a second variant aligns indices by their order among the array steps.
fn concretise(pat: &Pattern, old: &JsonPath) -> Vec<JsonPath> {
    // The old path's array steps with the keys leading to each.
    let mut old_arrays: Vec<(Vec<&str>, Step)> = Vec::new();
    let mut keys: Vec<&str> = Vec::new();
    for step in &old.steps {
        match step {
            Step::Key(k) => keys.push(k),
            other => old_arrays.push((keys.clone(), other.clone())),
        }
    }
    let by_prefix = |prefix: &[&str], _ordinal: usize| {
        old_arrays
            .iter()
            .find(|(p, _)| p.as_slice() == prefix)
            .map_or(Step::Wildcard, |(_, s)| s.clone())
    };
    let by_ordinal = |_prefix: &[&str], ordinal: usize| {
        old_arrays
            .get(ordinal)
            .map_or(Step::Wildcard, |(_, s)| s.clone())
    };
    let build = |pick: &dyn Fn(&[&str], usize) -> Step| {
        let mut steps = Vec::new();
        let mut prefix: Vec<&str> = Vec::new();
        let mut ordinal = 0;
        for s in pat {
            match s {
                PStep::Key(k) => {
                    prefix.push(k);
                    steps.push(Step::Key(k.clone()));
                }
                PStep::Arr => {
                    steps.push(pick(&prefix, ordinal));
                    ordinal += 1;
                }
            }
        }
        JsonPath { steps }
    };
    let a = build(&by_prefix);
    let b = build(&by_ordinal);
    if a == b { vec![a] } else { vec![a, b] }
}

fn path_keys(path: &JsonPath) -> Vec<String> {
    path.keys().map(str::to_string).collect()
}

/// What the healer knows about one field of one document.
struct FieldView {
    keys: Vec<String>,
    arrays: usize,
    /// Key sets of the nearest object ancestors, nearest first, unioned over
    /// a sample of the matches.
    context: Vec<HashSet<String>>,
    raw_kinds: Vec<&'static str>,
    values: Vec<String>,
}

impl FieldView {
    fn new(doc: &Value, keys: Vec<String>, matches: &[Vec<Loc>], values: Vec<String>) -> Self {
        let mut context: Vec<HashSet<String>> = Vec::new();
        let mut raw_kinds = Vec::new();
        let arrays = matches.first().map_or(0, |m| {
            m.iter().filter(|l| matches!(l, Loc::Index(_))).count()
        });
        for m in matches.iter().take(CONTEXT_SAMPLE) {
            if let Some(v) = node_at(doc, m) {
                raw_kinds.push(kind_of(v));
            }
            let mut level = 0;
            for cut in (0..m.len()).rev() {
                if level == CONTEXT_LEVELS {
                    break;
                }
                if let Some(Value::Object(map)) = node_at(doc, &m[..cut]) {
                    if context.len() <= level {
                        context.push(HashSet::new());
                    }
                    context[level].extend(map.keys().cloned());
                    level += 1;
                }
            }
        }
        FieldView {
            keys,
            arrays,
            context,
            raw_kinds,
            values,
        }
    }
}

fn node_at<'a>(doc: &'a Value, loc: &[Loc]) -> Option<&'a Value> {
    let mut cur = doc;
    for l in loc {
        cur = match (l, cur) {
            (Loc::Key(k), Value::Object(map)) => map.get(k)?,
            (Loc::Index(i), Value::Array(items)) => items.get(*i)?,
            _ => return None,
        };
    }
    Some(cur)
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_f64() => "float",
        Value::Number(_) => "int",
        Value::String(_) => "str",
        Value::Array(_) => "list",
        Value::Object(_) => "dict",
    }
}

/// The share of the old document's other values that the new one still holds:
/// near 1 when only the structure drifted, low when the data itself changed.
fn kept_fraction(old: &Value, new: &Value, old_selected: &[String]) -> f64 {
    let selected: HashSet<&str> = old_selected.iter().map(String::as_str).collect();
    let strings = |doc: &Value| -> HashSet<String> {
        leaves(doc)
            .into_iter()
            .filter_map(|l| python_str(l.1))
            .map(|s| normalise(&s))
            .filter(|s| s.chars().count() >= 4)
            .collect()
    };
    let old_set: HashSet<String> = strings(old)
        .into_iter()
        .filter(|s| !selected.contains(s.as_str()))
        .collect();
    if old_set.is_empty() {
        return 1.0;
    }
    let new_set = strings(new);
    old_set.iter().filter(|s| new_set.contains(*s)).count() as f64 / old_set.len() as f64
}

/// The signals for one candidate and their combination.
#[derive(Clone, Debug)]
struct Signals {
    context: f64,
    name: f64,
    shape: f64,
    profile: f64,
    count: f64,
    overlap: f64,
    stale: f64,
    other_field: bool,
    place: Placement,
    total: f64,
}

impl std::fmt::Display for Signals {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "context {:.2}, name {:.2}, path shape {:.2}, value kind {:.2}, count {:.2}, same values {:.2}, stale {:.2}, {:?}{}",
            self.context,
            self.name,
            self.shape,
            self.profile,
            self.count,
            self.overlap,
            self.stale,
            self.place,
            if self.other_field {
                ", read another field before"
            } else {
                ""
            }
        )
    }
}

struct Scored {
    path: JsonPath,
    values: Vec<String>,
    signals: Signals,
    /// A remembered rename predicted this path.
    remembered: bool,
}

/// The paths `renames` make of `path`: a pair of keys renames every step of the
/// old key to the new one; a pair of whole paths whose old one is `path` gives
/// its new one. Pairs that change nothing give nothing.
fn remembered_paths(path: &JsonPath, renames: &[(String, String)]) -> HashSet<JsonPath> {
    renames
        .iter()
        .filter_map(|(from, to)| {
            if let (Ok(whole_from), Ok(whole_to)) =
                (from.parse::<JsonPath>(), to.parse::<JsonPath>())
                && from.trim_start().starts_with('$')
            {
                return (&whole_from == path).then_some(whole_to);
            }
            let mut renamed = false;
            let steps = path
                .steps
                .iter()
                .map(|step| match step {
                    Step::Key(key) if key == from => {
                        renamed = true;
                        Step::Key(to.clone())
                    }
                    other => other.clone(),
                })
                .collect();
            renamed.then_some(JsonPath { steps })
        })
        .collect()
}

fn score(
    old: &FieldView,
    cand: &FieldView,
    other_field: bool,
    kept: f64,
    place: Placement,
) -> Signals {
    let context = context_similarity(old, cand);
    let name = name_signal(&old.keys, &cand.keys);
    let shape = path_shape_similarity(old, cand);
    let profile =
        value_profile_similarity(&old.values, &old.raw_kinds, &cand.values, &cand.raw_kinds);
    // Lists differ in length from page to page; one value becoming many (or
    // the reverse) is what counts.
    let (a, b) = (old.values.len() as f64, cand.values.len() as f64);
    let ratio = a.min(b) / a.max(b);
    let count = if (a == 1.0) == (b == 1.0) {
        0.8 + 0.2 * ratio
    } else {
        0.3
    };
    let overlap = value_overlap(&old.values, &cand.values);
    // Old values where the rest of the data moved on: a stale copy.
    let stale = overlap * (1.0 - kept);
    let live_overlap = overlap * kept;
    let anchored = if place == Placement::Inside { 1.0 } else { 0.0 };

    // Independent evidence for "this is the same field", combined noisy-OR.
    let support = 1.0
        - (1.0 - 0.90 * live_overlap)
            * (1.0 - 0.60 * context)
            * (1.0 - 0.35 * name)
            * (1.0 - 0.35 * profile * count)
            * (1.0 - 0.20 * shape)
            * (1.0 - 0.30 * anchored);
    // Evidence against it.
    let mut total = support;
    if other_field {
        total *= 0.3;
    }
    if place == Placement::Outside {
        total *= 0.35;
    }
    // A list level the old path did not have turns one value into many.
    let extra_arrays = cand.arrays.saturating_sub(old.arrays);
    total *= 0.5f64.powi(extra_arrays.min(4) as i32);
    total *= 1.0 - 0.85 * stale;
    total *= 0.5 + 0.5 * profile;
    total *= 0.7 + 0.3 * count;
    Signals {
        context,
        name,
        shape,
        profile,
        count,
        overlap,
        stale,
        other_field,
        place,
        total: total.clamp(0.0, 1.0),
    }
}

fn value_overlap(old: &[String], cand: &[String]) -> f64 {
    let old_set: HashSet<&str> = old.iter().map(String::as_str).collect();
    let cand_set: HashSet<&str> = cand.iter().map(String::as_str).collect();
    if cand_set.is_empty() || old_set.is_empty() {
        return 0.0;
    }
    let inter = cand_set.intersection(&old_set).count() as f64;
    (inter / cand_set.len() as f64).min(inter / old_set.len() as f64)
}

/// How alike the keys around the two fields are, ignoring the keys either
/// path names (those are what drifted). A field one level deeper or shallower
/// (nested or flattened) is compared one level up, at a small cost.
fn context_similarity(old: &FieldView, cand: &FieldView) -> f64 {
    let named: HashSet<&str> = old
        .keys
        .iter()
        .chain(cand.keys.iter())
        .map(String::as_str)
        .collect();
    let strip = |set: &HashSet<String>| -> HashSet<String> {
        set.iter()
            .filter(|k| !named.contains(k.as_str()))
            .cloned()
            .collect()
    };
    let old_levels: Vec<HashSet<String>> = old.context.iter().map(strip).collect();
    let cand_levels: Vec<HashSet<String>> = cand.context.iter().map(strip).collect();
    // The old field's nearest ancestor that has other keys is what it is
    // recognised by; ancestors above it (the root, typically) are alike for
    // any two fields of a document and say nothing.
    let Some(oi) = old_levels.iter().position(|s| !s.is_empty()) else {
        return 0.0;
    };
    let first_c = cand_levels.iter().position(|s| !s.is_empty()).unwrap_or(0);
    let mut best = 0.0f64;
    for (j, c) in cand_levels.iter().enumerate() {
        if c.is_empty() {
            continue;
        }
        let cost = 0.12 * (j.abs_diff(first_c) as f64);
        best = best.max(jaccard(&old_levels[oi], c) - cost);
    }
    best.max(0.0)
}

/// Name similarity of the field, allowing for a key nested under a new
/// parent (`prepTime` -> `time.prep`) or a wrapper flattened away.
fn name_signal(old: &[String], cand: &[String]) -> f64 {
    let last = |k: &[String], n: usize| -> String { k[k.len().saturating_sub(n)..].join("_") };
    if old.is_empty() || cand.is_empty() {
        return 0.0;
    }
    let direct = name_similarity(&last(old, 1), &last(cand, 1));
    let nested = name_similarity(&last(old, 1), &last(cand, 2)) * 0.9;
    let flattened = name_similarity(&last(old, 2), &last(cand, 1)) * 0.9;
    direct.max(nested).max(flattened)
}

/// Same depth, same number of arrays, same leading keys.
fn path_shape_similarity(old: &FieldView, cand: &FieldView) -> f64 {
    let lcs = lcs_len(&old.keys, &cand.keys) as f64;
    let keys = 2.0 * lcs / (old.keys.len() + cand.keys.len()).max(1) as f64;
    let arrays = if old.arrays == cand.arrays { 1.0 } else { 0.3 };
    0.6 * keys + 0.4 * arrays
}

fn lcs_len(a: &[String], b: &[String]) -> usize {
    let mut dp = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for i in 0..a.len() {
        for j in 0..b.len() {
            dp[i + 1][j + 1] = if a[i] == b[j] {
                dp[i][j] + 1
            } else {
                dp[i][j + 1].max(dp[i + 1][j])
            };
        }
    }
    dp[a.len()][b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn path(p: &str) -> JsonPath {
        p.parse().expect("a valid test path")
    }

    fn healed(outcome: HealOutcome) -> Heal {
        match outcome {
            HealOutcome::Healed(heal) => heal,
            other => panic!("expected a heal, got {other:?}"),
        }
    }

    #[test]
    fn remembered_renames_become_paths() {
        let read = path("$.data.items[*].price");
        let renames = [
            ("price".to_owned(), "amount".to_owned()),
            ("title".to_owned(), "name".to_owned()),
            (
                "$.data.items[*].price".to_owned(),
                "$.data.products[*].price".to_owned(),
            ),
            ("$.other".to_owned(), "$.elsewhere".to_owned()),
        ];
        let mut got: Vec<String> = remembered_paths(&read, &renames)
            .iter()
            .map(ToString::to_string)
            .collect();
        got.sort();
        assert_eq!(got, ["$.data.items[*].amount", "$.data.products[*].price"]);
    }

    #[test]
    fn a_remembered_rename_settles_a_tie() {
        let old = json!({"items": [
            {"name": "A", "price": "10.00", "sku": "a-1"},
            {"name": "B", "price": "12.50", "sku": "b-2"},
        ]});
        // Two new keys hold the old values: either could be the renamed one.
        let new = json!({"items": [
            {"name": "A", "cost": "10.00", "amount": "10.00", "sku": "a-1"},
            {"name": "B", "cost": "12.50", "amount": "12.50", "sku": "b-2"},
        ]});
        let read = path("$.items[*].price");
        let alone = heal_documents(&old, &new, &read);
        let alone_score = match &alone {
            HealOutcome::Healed(h) => h.score,
            HealOutcome::Refused { score, .. } => *score,
            HealOutcome::Unchanged => panic!("the path no longer reads anything"),
        };
        for to in ["amount", "cost"] {
            let renames = [("price".to_owned(), to.to_owned())];
            let heal = healed(heal_documents_with(&old, &new, &read, &renames));
            assert_eq!(heal.selector.expr, format!("$.items[*].{to}"));
            assert!(heal.score > alone_score, "{} <= {alone_score}", heal.score);
            assert!(heal.rationale.contains("remembered"), "{}", heal.rationale);
        }
    }

    #[test]
    fn a_remembered_rename_that_does_not_fit_changes_nothing() {
        let old =
            json!({"items": [{"name": "A", "price": "10.00"}, {"name": "B", "price": "12.50"}]});
        let new =
            json!({"items": [{"name": "A", "cost": "10.00"}, {"name": "B", "cost": "12.50"}]});
        let read = path("$.items[*].price");
        let renames = [("price".to_owned(), "amount".to_owned())];
        let alone = healed(heal_documents(&old, &new, &read));
        let with = healed(heal_documents_with(&old, &new, &read, &renames));
        assert_eq!(with.selector, alone.selector);
        assert_eq!(with.selector.expr, "$.items[*].cost");
        assert!((with.score - alone.score).abs() < 1e-9);
    }
}
