//! The repair itself: learn what the selector selected on the old page, find
//! where that went in the new page by structural similarity, try small edits
//! of the scraper's own selector (rename one token, shift one position, add or
//! drop one wrapper step), verify each by evaluating it, and score the best one
//! honestly.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use libxml::readonly::RoNode;

use super::dom::{Hit, HitKind, Page};
use super::features::{Fingerprint, similarity, value_likeness};
use super::tokens::{Slot, SlotKind, slots, splice};
use super::{css, to_xpath};
use crate::heal::{Heal, HealOutcome, Selector, SelectorKind};

/// Knobs for one repair.
#[derive(Clone, Debug, Default)]
pub struct HealOptions {
    /// Token renames seen in earlier fixes on the same site (`old` -> `new`),
    /// tried before anything else.
    pub renames: Vec<(String, String)>,
}

/// Scores below this are not offered as a fix.
pub const REFUSE_BELOW: f64 = 0.70;
/// Upper bound on selector evaluations per repair (keeps a repair fast).
const MAX_EVALS: usize = 700;
/// How many nodes of a selection are compared.
const SAMPLE: usize = 12;

/// Tokens (tags, classes, ids, attributes) seen in some part of a page.
#[derive(Default, Debug)]
struct Vocab {
    tags: Vec<String>,
    classes: Vec<String>,
    class_values: Vec<String>,
    ids: Vec<String>,
    attr_names: Vec<String>,
    attr_values: BTreeMap<String, Vec<String>>,
    seen: HashSet<(u8, String)>,
    tag_counts: HashMap<String, usize>,
}

impl Vocab {
    fn add(&mut self, which: u8, value: &str) {
        if value.is_empty() || value.len() > 120 || !self.seen.insert((which, value.to_string())) {
            return;
        }
        let v = value.to_string();
        match which {
            0 => self.tags.push(v),
            1 => self.classes.push(v),
            2 => self.class_values.push(v),
            3 => self.ids.push(v),
            _ => self.attr_names.push(v),
        }
    }
    fn add_element(&mut self, n: RoNode) {
        let tag = n.get_name().to_ascii_lowercase();
        *self.tag_counts.entry(tag.clone()).or_default() += 1;
        self.add(0, &tag);
        for (name, value) in n.get_attributes() {
            match name.as_str() {
                "class" => {
                    for c in value.split_whitespace() {
                        self.add(1, c);
                    }
                    self.add(2, value.trim());
                }
                "id" => self.add(3, &value),
                "style" => {}
                _ => {
                    self.add(4, &name);
                    let vals = self.attr_values.entry(name).or_default();
                    if value.len() <= 200 && !vals.contains(&value) && vals.len() < 40 {
                        vals.push(value);
                    }
                }
            }
        }
    }
    fn has_class(&self, c: &str) -> bool {
        self.seen.contains(&(1, c.to_string()))
    }
    fn has_any(&self, v: &str) -> bool {
        (0..5).any(|w| self.has(w, v))
    }
    fn has(&self, which: u8, v: &str) -> bool {
        self.seen.contains(&(which, v.to_string()))
    }
}

/// One proposed selector and how well it fits.
#[derive(Clone, Debug)]
struct Candidate {
    expr: String,
    cost: f64,
    what: Vec<String>,
    values: Vec<String>,
    fit: Fit,
}

/// The evidence for a candidate, each part in [0, 1].
#[derive(Clone, Copy, Debug, Default)]
struct Fit {
    structure: f64,
    likeness: f64,
    count: f64,
    values: f64,
    total: f64,
}

struct Ctx<'a> {
    kind: SelectorKind,
    old: &'a Page,
    new: &'a Page,
    old_nodes: HashSet<usize>,
    /// Texts and attribute values of the old page.
    old_texts: HashSet<String>,
    old_kind: HitKind,
    old_fps: Vec<Fingerprint>,
    /// Fingerprints of the parents of `old_fps`' nodes.
    old_parent_fps: Vec<Fingerprint>,
    old_values: Vec<String>,
    old_sample_values: Vec<String>,
    old_value_set: HashSet<String>,
    persistence: f64,
    /// How like the old selection the best new-page node holding an old value is.
    value_home: f64,
    /// The new page still carries the old data where the old selection was.
    same_data: bool,
    near: Vocab,
    wrappers: Vec<String>,
    new_all: Vocab,
    old_all: Vocab,
    fp_cache: RefCell<HashMap<usize, Fingerprint>>,
    evals: RefCell<usize>,
    tried: RefCell<HashSet<String>>,
    /// Edits that select nodes holding no text yet (a second edit may finish them).
    hollow: RefCell<Vec<(String, f64, Vec<String>)>>,
}

/// What a candidate selects on the old page besides the old selection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Overlap {
    /// Nothing else.
    None,
    /// Other nodes too, but the new nodes still look most like the old selection.
    Partial,
    /// Other nodes that explain the new nodes better than the old selection does.
    Explained,
}

/// How an edit changed the depth of the selected nodes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Reshape {
    None,
    Dropped,
    Wrapped,
}

fn refuse(reason: impl Into<String>, score: f64) -> HealOutcome {
    HealOutcome::Refused {
        reason: reason.into(),
        score,
    }
}

fn sample_indices(n: usize, m: usize) -> Vec<usize> {
    if n <= m {
        return (0..n).collect();
    }
    (0..m).map(|k| k * (n - 1) / (m - 1)).collect()
}

fn valued(hits: Vec<Hit>) -> Vec<Hit> {
    hits.into_iter().filter(|h| h.value.is_some()).collect()
}

pub fn heal(
    old_html: &str,
    new_html: &str,
    selector: &Selector,
    options: &HealOptions,
) -> HealOutcome {
    let xpath = match to_xpath(selector) {
        Ok(x) => x,
        Err(e) => return refuse(e.to_string(), 0.0),
    };
    let (old, new) = match (Page::parse(old_html, "old"), Page::parse(new_html, "new")) {
        (Ok(o), Ok(n)) => (o, n),
        (Err(e), _) | (_, Err(e)) => return refuse(e.to_string(), 0.0),
    };
    let old_hits = match old.eval(&xpath) {
        Ok(h) => valued(h),
        Err(e) => return refuse(e.to_string(), 0.0),
    };
    if old_hits.is_empty() {
        return refuse(
            "the selector extracts nothing from the old page, so there is nothing to look for",
            0.0,
        );
    }
    let old_values: Vec<String> = old_hits.iter().filter_map(|h| h.value.clone()).collect();
    let now: Vec<String> = new
        .eval(&xpath)
        .map(valued)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|h| h.value)
        .collect();
    if now == old_values {
        return HealOutcome::Unchanged;
    }
    let mut ctx = Ctx::new(selector.kind, &old, &new, &old_hits);
    ctx.add_prefix_context(&selector.expr);
    ctx.search(selector, &xpath, options)
}

impl<'a> Ctx<'a> {
    fn new(kind: SelectorKind, old: &'a Page, new: &'a Page, old_hits: &[Hit]) -> Ctx<'a> {
        let old_kind = old_hits[0].kind;
        let idx = sample_indices(old_hits.len(), SAMPLE);
        let old_fps: Vec<Fingerprint> = idx
            .iter()
            .filter_map(|&i| old_hits[i].anchor)
            .map(Fingerprint::of)
            .collect();
        let old_parent_fps: Vec<Fingerprint> = idx
            .iter()
            .filter_map(|&i| old_hits[i].anchor.and_then(|a| a.get_parent()))
            .map(Fingerprint::of)
            .collect();
        let old_values: Vec<String> = old_hits.iter().filter_map(|h| h.value.clone()).collect();
        let old_sample_values = idx
            .iter()
            .filter_map(|&i| old_hits[i].value.clone())
            .collect();
        let old_value_set: HashSet<String> = old_values.iter().cloned().collect();

        let mut old_all = Vocab::default();
        for e in old.elements() {
            old_all.add_element(e);
        }
        let mut new_all = Vocab::default();
        let new_elements = new.elements();
        for &e in &new_elements {
            new_all.add_element(e);
        }
        let persistence = persistence(old, new, &old_value_set);

        let mut ctx = Ctx {
            kind,
            old,
            new,
            old_nodes: old_hits
                .iter()
                .filter_map(|h| h.node)
                .map(|n| n.to_hashable())
                .collect(),
            old_texts: page_values(old, old_kind == HitKind::Element),
            old_kind,
            old_fps,
            old_parent_fps,
            old_values,
            old_sample_values,
            old_value_set,
            persistence,
            value_home: 0.0,
            same_data: false,
            near: Vocab::default(),
            wrappers: Vec::new(),
            new_all,
            old_all,
            fp_cache: RefCell::new(HashMap::new()),
            evals: RefCell::new(0),
            tried: RefCell::new(HashSet::new()),
            hollow: RefCell::new(Vec::new()),
        };
        ctx.locate(&new_elements);
        ctx.value_home = ctx.value_home(new);
        ctx.same_data = ctx.value_home >= 0.75;
        ctx
    }

    /// Where old values turn up on the new page, if anywhere: the best
    /// structural similarity of their elements to the old selection. Old
    /// values sitting somewhere unlike the old field (a "recently viewed"
    /// list, link titles) do not mean the data stayed.
    fn value_home(&self, new: &Page) -> f64 {
        let mut found: Vec<RoNode> = Vec::new();
        let mut stack = vec![new.root()];
        while let Some(n) = stack.pop() {
            if found.len() >= 24 {
                break;
            }
            match n.get_type() {
                Some(libxml::tree::NodeType::TextNode) => {
                    if super::dom::normalize(&n.get_content())
                        .is_some_and(|t| self.old_value_set.contains(&t))
                        && let Some(p) = n.get_parent()
                    {
                        found.push(p);
                    }
                }
                Some(libxml::tree::NodeType::ElementNode) => {
                    if self.old_kind != HitKind::Text
                        && (n.get_attributes().values().any(|v| {
                            super::dom::normalize(v)
                                .is_some_and(|t| self.old_value_set.contains(&t))
                        }) || self.old_kind == HitKind::Element
                            && super::dom::normalize(&n.get_content())
                                .is_some_and(|t| self.old_value_set.contains(&t)))
                    {
                        found.push(n);
                    }
                    let mut kids = n.get_child_nodes();
                    kids.reverse();
                    stack.extend(kids);
                }
                _ => {}
            }
        }
        let probes = sample_indices(self.old_fps.len(), 3);
        found
            .iter()
            .map(|&n| {
                let fp = self.fingerprint(n);
                probes
                    .iter()
                    .map(|&i| similarity(&self.old_fps[i], &fp))
                    .fold(0.0, f64::max)
            })
            .fold(0.0, f64::max)
    }

    /// Adds the surroundings of what the longest still-working prefix of the
    /// selector selects on the new page: the drift is below that point.
    fn add_prefix_context(&mut self, expr: &str) {
        let sl = slots(self.kind, expr);
        for sep in sl
            .iter()
            .rev()
            .filter(|s| s.kind == SlotKind::Sep && s.depth == 0 && s.start > 0)
        {
            let prefix = expr[..sep.start].trim_end();
            let xpath = match self.kind {
                SelectorKind::Css => match css::css_to_xpath(prefix) {
                    Ok(x) => x,
                    Err(_) => continue,
                },
                _ => prefix.to_string(),
            };
            let Ok(hits) = self.new.eval(&xpath) else {
                continue;
            };
            let nodes: Vec<RoNode> = hits
                .iter()
                .filter(|h| h.kind == HitKind::Element)
                .filter_map(|h| h.node)
                .take(40)
                .collect();
            if nodes.is_empty() {
                continue;
            }
            for n in nodes {
                for k in n.get_child_elements() {
                    self.near.add_element(k);
                    let t = k.get_name().to_ascii_lowercase();
                    if !self.wrappers.contains(&t) {
                        self.wrappers.insert(0, t);
                    }
                    for g in k.get_child_elements() {
                        self.near.add_element(g);
                    }
                }
            }
            break;
        }
    }

    /// `items` with the tokens the old page did not have first (a rename
    /// brings a new token), then the rest.
    fn fresh_first<'v>(
        &self,
        which: u8,
        items: impl Iterator<Item = &'v String>,
    ) -> Vec<&'v String> {
        let (mut fresh, stale): (Vec<&String>, Vec<&String>) =
            items.partition(|t| !self.old_all.has(which, t));
        fresh.extend(stale);
        fresh
    }

    fn fingerprint(&self, n: RoNode) -> Fingerprint {
        let key = n.to_hashable();
        if let Some(fp) = self.fp_cache.borrow().get(&key) {
            return fp.clone();
        }
        let fp = Fingerprint::of(n);
        self.fp_cache.borrow_mut().insert(key, fp.clone());
        fp
    }

    /// Finds the new page's elements most like the old selection's, and
    /// collects the tokens around them: the vocabulary edits draw from.
    fn locate(&mut self, new_elements: &[RoNode]) {
        let probes: Vec<Fingerprint> = sample_indices(self.old_fps.len(), 4)
            .into_iter()
            .map(|i| self.old_fps[i].clone())
            .collect();
        let tags: HashSet<&str> = probes.iter().map(|p| p.tag.as_str()).collect();
        let classes: HashSet<&String> = probes.iter().flat_map(|p| p.classes.iter()).collect();
        let attrs: HashSet<&String> = probes.iter().flat_map(|p| p.attr_names.iter()).collect();
        let mut pool: Vec<RoNode> = new_elements
            .iter()
            .copied()
            .filter(|e| {
                let name = e.get_name().to_ascii_lowercase();
                tags.contains(name.as_str())
                    || e.get_attribute("class").is_some_and(|c| {
                        c.split_whitespace()
                            .any(|c| classes.contains(&c.to_string()))
                    })
                    || e.get_attributes().keys().any(|k| attrs.contains(k))
            })
            .collect();
        if pool.len() > 1500 {
            pool.truncate(1500);
        }
        let mut matched: Vec<RoNode> = Vec::new();
        let mut seen = HashSet::new();
        for probe in &probes {
            let mut scored: Vec<(f64, RoNode)> = pool
                .iter()
                .map(|&e| (similarity(probe, &self.fingerprint(e)), e))
                .collect();
            scored.sort_by(|a, b| b.0.total_cmp(&a.0));
            for (_, e) in scored.into_iter().take(3) {
                if seen.insert(e.to_hashable()) {
                    matched.push(e);
                }
            }
        }
        let mut near = Vocab::default();
        let mut wrappers = Vec::new();
        for &m in &matched {
            near.add_element(m);
            for k in m.get_child_elements() {
                near.add_element(k);
            }
            let mut up = m.get_parent();
            let mut level = 0;
            while let Some(p) = up {
                if p.get_type() != Some(libxml::tree::NodeType::ElementNode) {
                    break;
                }
                near.add_element(p);
                if level < 2 {
                    for s in p.get_child_elements() {
                        near.add_element(s);
                    }
                }
                if level < 3 {
                    let t = p.get_name().to_ascii_lowercase();
                    if !wrappers.contains(&t) {
                        wrappers.push(t);
                    }
                }
                level += 1;
                up = p.get_parent();
            }
        }
        for t in &near.tags {
            if !wrappers.contains(t) && wrappers.len() < 10 {
                wrappers.push(t.clone());
            }
        }
        self.near = near;
        self.wrappers = wrappers;
    }

    /// How well a selection on the new page matches the old selection.
    fn assess(&self, hits: &[Hit], renames: &[(String, String)], reshaped: Reshape) -> Option<Fit> {
        if hits.is_empty() || hits.iter().any(|h| h.kind != self.old_kind) {
            return None;
        }
        let idx = sample_indices(hits.len(), SAMPLE);
        let m = idx.len();
        let om = self.old_fps.len();
        let mut structure = 0.0;
        let mut n_struct = 0usize;
        for (k, &i) in idx.iter().enumerate() {
            let Some(anchor) = hits[i].anchor else {
                continue;
            };
            let ok = if m > 1 && om > 0 {
                k * (om - 1) / (m - 1)
            } else {
                0
            };
            let Some(ofp) = self.old_fps.get(ok.min(om.saturating_sub(1))) else {
                continue;
            };
            // A renamed token is expected to differ: compare as if the old
            // page had carried the new name.
            let ofp = if renames.is_empty() {
                ofp.clone()
            } else {
                ofp.renamed(renames)
            };
            let fp = self.fingerprint(anchor);
            let mut sim = similarity(&ofp, &fp);
            // A dropped step makes the old node's parent the holder of the
            // data; an added wrapper puts a new element between the old node
            // and the data. Compare with those, a little discounted.
            match reshaped {
                Reshape::Dropped => {
                    if let Some(parent) = self.old_parent_fps.get(ok.min(om.saturating_sub(1))) {
                        sim = sim.max(0.95 * similarity(parent, &fp));
                    }
                }
                Reshape::Wrapped => {
                    if let Some(parent) = anchor.get_parent() {
                        sim = sim.max(0.95 * similarity(&ofp, &self.fingerprint(parent)));
                    }
                }
                Reshape::None => {}
            }
            structure += sim;
            n_struct += 1;
        }
        let structure = if n_struct > 0 {
            structure / n_struct as f64
        } else {
            0.0
        };
        let mut likeness = 0.0;
        for &i in &idx {
            let v = hits[i].value.as_deref().unwrap_or("");
            likeness += self
                .old_sample_values
                .iter()
                .map(|o| value_likeness(o, v))
                .fold(0.0, f64::max);
        }
        let likeness = likeness / m as f64;
        let (a, b) = (hits.len() as f64, self.old_values.len() as f64);
        // A longer or shorter page has more or fewer records: the count is
        // consistent when it changed as much as the page's elements of that
        // kind did.
        let old_tag = self.old_fps.first().map(|f| f.tag.as_str()).unwrap_or("");
        let new_tag = hits[idx[0]]
            .anchor
            .map(|n| n.get_name().to_ascii_lowercase())
            .unwrap_or_default();
        let grown = (*self.new_all.tag_counts.get(&new_tag).unwrap_or(&1) as f64)
            / (*self.old_all.tag_counts.get(old_tag).unwrap_or(&1) as f64);
        let ratio = a / b;
        let count = (a.min(b) / a.max(b)).max(ratio.min(grown) / ratio.max(grown) * 0.95);
        let same = hits
            .iter()
            .filter(|h| {
                h.value
                    .as_ref()
                    .is_some_and(|v| self.old_value_set.contains(v))
            })
            .count();
        let frac = same as f64 / hits.len() as f64;
        // When the page kept its data, the fix must find the old values again;
        // when the data changed, old values turning up are more likely a
        // leftover block (recently viewed, related links) than the field.
        let values = if self.same_data {
            frac
        } else {
            1.0 - 0.5 * frac
        };
        // All evidence must agree: a weighted geometric mean lets one bad
        // signal pull the fit down.
        let parts = [
            (0.55, structure),
            (0.15, likeness),
            (0.10, count),
            (0.20, values),
        ];
        let total = parts
            .iter()
            .map(|(w, x): &(f64, f64)| w * x.max(0.02).ln())
            .sum::<f64>()
            .exp();
        Some(Fit {
            structure,
            likeness,
            count,
            values,
            total,
        })
    }

    /// Whether the nodes a candidate selects on the new page are better
    /// explained as some other field of the old page (one the candidate also
    /// selects there) than as the old selection: then the candidate found a
    /// neighbour that was always there, not the field that moved.
    fn explained_by_other_field(&self, xpath: &str, hits: &[Hit]) -> Overlap {
        let idx = sample_indices(hits.len(), SAMPLE);
        let sampled: Vec<&String> = idx.iter().filter_map(|&i| hits[i].value.as_ref()).collect();
        let elsewhere = sampled
            .iter()
            .filter(|v| !self.old_value_set.contains(**v) && self.old_texts.contains(**v))
            .count();
        if !sampled.is_empty()
            && sampled.iter().all(|v| !self.old_value_set.contains(*v))
            && elsewhere * 10 >= sampled.len() * 6
        {
            // The values were already on the old page, in some other field.
            return Overlap::Explained;
        }
        let Ok(before) = self.old.eval(xpath) else {
            return Overlap::None;
        };
        let others: Vec<Hit> = valued(before)
            .into_iter()
            .filter(|h| {
                h.node
                    .is_none_or(|n| !self.old_nodes.contains(&n.to_hashable()))
            })
            .collect();
        if others.is_empty() {
            return Overlap::None;
        }
        let other_values: HashSet<&String> =
            others.iter().filter_map(|h| h.value.as_ref()).collect();
        let other_idx = sample_indices(others.len(), SAMPLE);
        let other_fps: Vec<Fingerprint> = other_idx
            .iter()
            .filter_map(|&i| others[i].anchor)
            .map(|a| self.fingerprint(a))
            .collect();
        let other_sample: Vec<&String> = other_idx
            .iter()
            .filter_map(|&i| others[i].value.as_ref())
            .collect();
        let (mut own, mut other) = (0.0, 0.0);
        for (k, &i) in idx.iter().enumerate() {
            let (Some(anchor), Some(v)) = (hits[i].anchor, hits[i].value.as_ref()) else {
                continue;
            };
            let fp = self.fingerprint(anchor);
            let pick = |len: usize| {
                if idx.len() > 1 {
                    k * len.saturating_sub(1) / (idx.len() - 1)
                } else {
                    0
                }
            };
            if let Some(o) = self.old_fps.get(pick(self.old_fps.len())) {
                own += similarity(o, &fp);
            }
            own += self
                .old_sample_values
                .iter()
                .map(|o| value_likeness(o, v))
                .fold(0.0, f64::max);
            own += f64::from(u8::from(self.old_value_set.contains(v)));
            if let Some(o) = other_fps.get(pick(other_fps.len())) {
                other += similarity(o, &fp);
            }
            other += other_sample
                .iter()
                .map(|o| value_likeness(o, v))
                .fold(0.0, f64::max);
            other += f64::from(u8::from(other_values.contains(v)));
        }
        if other > own + 0.05 * idx.len() as f64 {
            Overlap::Explained
        } else {
            Overlap::Partial
        }
    }

    fn try_expr(&self, expr: String, cost: f64, what: Vec<String>) -> Option<Candidate> {
        if !self.tried.borrow_mut().insert(expr.clone()) {
            return None;
        }
        {
            let mut e = self.evals.borrow_mut();
            if *e >= MAX_EVALS {
                return None;
            }
            *e += 1;
        }
        let xpath = match self.kind {
            SelectorKind::Css => css::css_to_xpath(&expr).ok()?,
            _ => expr.clone(),
        };
        let raw = self.new.eval(&xpath).ok()?;
        let raw_len = raw.len();
        let hits = valued(raw);
        if hits.len() > 30 * self.old_values.len() + 300 {
            return None;
        }
        let renames: Vec<(String, String)> = what.iter().filter_map(|w| rename_of(w)).collect();
        let reshaped = if what
            .iter()
            .any(|w| w.starts_with("step ") && w.contains("dropped"))
        {
            Reshape::Dropped
        } else if what
            .iter()
            .any(|w| w.starts_with("wrapper") || w.starts_with("child -> descendant"))
        {
            Reshape::Wrapped
        } else {
            Reshape::None
        };
        if hits.is_empty() && raw_len > 0 {
            self.hollow
                .borrow_mut()
                .push((expr.clone(), cost, what.clone()));
        }
        let mut fit = self.assess(&hits, &renames, reshaped)?;
        if renames.iter().any(|(a, b)| is_number(a) && is_number(b)) {
            // Numbers in attribute values are layout (widths, sizes), not
            // names: a change between two of them identifies nothing.
            fit.total *= 0.9;
        }
        fit.total -= 0.03 * (cost - 1.0).max(0.0);
        match self.explained_by_other_field(&xpath, &hits) {
            Overlap::Explained => fit.total *= 0.7,
            // Renamed to a token the old page already used, for nodes the
            // old selector did not select: a rename usually brings a new name.
            Overlap::Partial if renames.iter().any(|(_, to)| self.old_all.has_any(to)) => {
                fit.total *= 0.88
            }
            _ => {}
        }
        let values = hits.into_iter().filter_map(|h| h.value).collect();
        Some(Candidate {
            expr,
            cost,
            what,
            values,
            fit,
        })
    }

    fn search(&self, selector: &Selector, xpath: &str, options: &HealOptions) -> HealOutcome {
        let expr = selector.expr.as_str();
        let mut found: Vec<Candidate> = Vec::new();
        let original = self.try_expr(expr.to_string(), 0.0, vec![]);
        for (from, to) in &options.renames {
            if expr.contains(from.as_str()) {
                found.extend(self.try_expr(
                    expr.replace(from.as_str(), to),
                    0.8,
                    vec![format!("remembered rename {from} -> {to}")],
                ));
            }
        }
        let mut first = Vec::new();
        for (e, cost, what) in self.edits(expr) {
            if let Some(c) = self.try_expr(e, cost, vec![what]) {
                first.push(c);
            }
        }
        first.sort_by(|a, b| b.fit.total.total_cmp(&a.fit.total));
        // A second edit is only worth its cost when no single edit fits well.
        let settled = first.first().is_some_and(|c| c.fit.total >= 0.9);
        let bases = if settled { 0 } else { 3 };
        let mut seeds: Vec<(String, f64, Vec<String>)> = first
            .iter()
            .take(bases)
            .map(|c| (c.expr.clone(), c.cost, c.what.clone()))
            .collect();
        if !settled {
            seeds.extend(self.hollow.borrow().iter().take(2).cloned());
        }
        for (base_expr, base_cost, base_what) in seeds {
            for (e, cost, what) in self.edits(&base_expr) {
                let mut w = base_what.clone();
                w.push(what);
                if let Some(c) = self.try_expr(e, base_cost + cost, w) {
                    found.push(c);
                }
            }
        }
        found.extend(first);
        found.sort_by(|a, b| {
            b.fit
                .total
                .total_cmp(&a.fit.total)
                .then(a.cost.total_cmp(&b.cost))
        });
        let Some(best) = found.first().cloned() else {
            return refuse(
                format!(
                    "no small edit of `{expr}` selects anything like the old selection on the new page (the data looks removed)"
                ),
                0.0,
            );
        };
        if let Some(orig) = &original
            && orig.fit.total >= best.fit.total
        {
            // Nothing fits better than the selector as written: either the
            // data changed under an intact selector, or the page model moved
            // beyond a small edit. Only a convincing fit says "unchanged".
            return refuse(
                format!(
                    "`{expr}` still selects nodes like the old ones (fit {:.2}) and no edit fits better: the breakage is not a selector drift this healer can fix",
                    orig.fit.total
                ),
                0.0,
            );
        }
        let runner_up = found
            .iter()
            .skip(1)
            .find(|c| c.values != best.values)
            .map_or(0.0, |c| c.fit.total);
        let score = confidence(&best, runner_up);
        let _ = xpath;
        let rationale = format!(
            "{}; structure {:.2}, value shape {:.2}, count {:.2} ({} vs {} old), value agreement {:.2}, margin {:.2}, page text kept {:.2}, old values found at similar nodes {:.2}",
            best.what.join(", "),
            best.fit.structure,
            best.fit.likeness,
            best.fit.count,
            best.values.len(),
            self.old_values.len(),
            best.fit.values,
            best.fit.total - runner_up,
            self.persistence,
            self.value_home
        );
        if score < REFUSE_BELOW {
            return refuse(
                format!(
                    "best candidate `{}` is not convincing: {rationale}",
                    best.expr
                ),
                score,
            );
        }
        HealOutcome::Healed(Heal {
            selector: Selector {
                kind: selector.kind,
                expr: best.expr,
            },
            score,
            values: best.values,
            rationale,
        })
    }

    /// Single edits of `expr`: (new expression, cost, description).
    fn edits(&self, expr: &str) -> Vec<(String, f64, String)> {
        let sl = slots(self.kind, expr);
        let mut out: Vec<(String, f64, String)> = Vec::new();
        let push_all = |out: &mut Vec<(String, f64, String)>,
                        slot: &Slot,
                        group: &[&Slot],
                        with: &str,
                        cost: f64,
                        what: String| {
            out.push((splice(expr, slot.start, slot.end, with), cost, what.clone()));
            if group.len() > 1 {
                let mut e = expr.to_string();
                for s in group.iter().rev() {
                    e = splice(&e, s.start, s.end, with);
                }
                out.push((e, cost, format!("{what} (every occurrence)")));
            }
        };
        for (i, slot) in sl.iter().enumerate() {
            let group: Vec<&Slot> = sl
                .iter()
                .filter(|s| s.kind == slot.kind && s.text == slot.text)
                .collect();
            match &slot.kind {
                SlotKind::Tag => {
                    let t = slot.text.to_ascii_lowercase();
                    let broken = !self.new_all.has(0, &t);
                    let mut repl = self.fresh_first(0, self.near.tags.iter());
                    if broken {
                        repl.extend(
                            self.new_all
                                .tags
                                .iter()
                                .filter(|x| !self.old_all.has(0, x))
                                .take(10),
                        );
                    }
                    for r in repl.into_iter().filter(|r| **r != t).take(16) {
                        push_all(
                            &mut out,
                            slot,
                            &group,
                            r,
                            if broken { 1.0 } else { 1.2 },
                            format!("tag {t} -> {r}"),
                        );
                    }
                }
                SlotKind::AttrName => {
                    let a = &slot.text;
                    let broken = !self.new_all.has(4, a) && a != "class" && a != "id";
                    let mut repl = self.fresh_first(4, self.near.attr_names.iter());
                    if broken {
                        repl.extend(
                            self.new_all
                                .attr_names
                                .iter()
                                .filter(|x| !self.old_all.has(4, x))
                                .take(10),
                        );
                    }
                    for r in repl.into_iter().filter(|r| *r != a).take(14) {
                        push_all(
                            &mut out,
                            slot,
                            &group,
                            r,
                            if broken { 1.0 } else { 1.3 },
                            format!("attribute {a} -> {r}"),
                        );
                    }
                }
                SlotKind::Literal { attr: Some(attr) } => {
                    self.literal_edits(expr, slot, attr, &mut out)
                }
                SlotKind::Literal { attr: None } => {}
                SlotKind::Number => {
                    if let Ok(n) = slot.text.trim().parse::<i64>() {
                        for d in [1, -1, 2, -2, 3] {
                            let m = n + d;
                            if m >= 1 {
                                out.push((
                                    splice(expr, slot.start, slot.end, &m.to_string()),
                                    1.0,
                                    format!("position {n} -> {m}"),
                                ));
                            }
                        }
                    }
                }
                SlotKind::Sep => {
                    let next_tag = sl[i + 1..].iter().find(|s| s.start >= slot.end);
                    if let Some(nt) = next_tag.filter(|nt| {
                        nt.kind == SlotKind::Tag && expr[slot.end..nt.start].trim().is_empty()
                    }) {
                        let same: Vec<&Slot> = sl
                            .iter()
                            .filter(|s| s.kind == SlotKind::Tag && s.text == nt.text)
                            .collect();
                        for w in self.wrappers.iter().take(8) {
                            let ins = match self.kind {
                                SelectorKind::Css => format!("{w} > "),
                                _ => format!("{w}/"),
                            };
                            let what = format!("wrapper {w} added above {}", nt.text);
                            out.push((splice(expr, nt.start, nt.start, &ins), 1.0, what.clone()));
                            if same.len() > 1 {
                                let mut e = expr.to_string();
                                for s in same.iter().rev() {
                                    e = splice(&e, s.start, s.start, &ins);
                                }
                                out.push((e, 1.0, format!("{what} (every occurrence)")));
                            }
                        }
                    }
                    let t = slot.text.trim();
                    match (self.kind, t) {
                        (SelectorKind::Css, ">") => out.push((
                            splice(expr, slot.start, slot.end, " "),
                            1.1,
                            "child -> descendant".into(),
                        )),
                        (SelectorKind::Css, _) => {}
                        (_, "/") if slot.start > 0 => out.push((
                            splice(expr, slot.start, slot.end, "//"),
                            1.1,
                            "child -> descendant".into(),
                        )),
                        _ => {}
                    }
                }
                SlotKind::Condition => {
                    // A condition on text (a label such as 'Caption:') or on an
                    // id names what is selected: when it no longer holds, the
                    // thing is gone, and dropping it would select something else.
                    let names_it = slot.text.contains("@id")
                        || slot.text.starts_with('#')
                        || sl.iter().any(|s| {
                            s.start >= slot.start
                                && s.end <= slot.end
                                && s.kind == (SlotKind::Literal { attr: None })
                        });
                    if slot.depth == 0 && !names_it {
                        out.push((
                            splice(expr, slot.start, slot.end, ""),
                            1.3,
                            format!("condition {} dropped", slot.text),
                        ));
                    }
                }
            }
            // Dropping a whole step (a wrapper that went away).
            if self.kind != SelectorKind::Css
                && slot.kind == SlotKind::Tag
                && slot.depth == 0
                && i > 0
            {
                let prev = &sl[i - 1];
                if prev.kind == SlotKind::Sep && prev.end == slot.start && prev.start > 0 {
                    let mut end = slot.end;
                    for s in &sl[i + 1..] {
                        if s.kind == SlotKind::Condition && s.depth == 0 && s.start == end {
                            end = s.end;
                        } else if s.start >= end && s.kind != SlotKind::Condition {
                            break;
                        }
                    }
                    let rest = &expr[end..];
                    if rest.starts_with('/') {
                        out.push((
                            splice(expr, prev.start, end, ""),
                            1.2,
                            format!("step {} dropped", &expr[slot.start..end]),
                        ));
                    }
                }
            }
        }
        out
    }

    fn literal_edits(
        &self,
        expr: &str,
        slot: &Slot,
        attr: &str,
        out: &mut Vec<(String, f64, String)>,
    ) {
        let text = &slot.text;
        // Each whitespace-separated token of the literal may be renamed alone.
        let mut cursor = 0;
        for tok in text.split_whitespace() {
            let Some(pos) = text[cursor..].find(tok) else {
                continue;
            };
            let s = slot.start + cursor + pos;
            let e = s + tok.len();
            cursor += pos + tok.len();
            let (broken, near, all_new): (bool, Vec<&String>, Vec<&String>) = match attr {
                "class" => (
                    !self.new_all.has_class(tok),
                    self.fresh_first(1, self.near.classes.iter()),
                    self.new_all
                        .classes
                        .iter()
                        .filter(|c| !self.old_all.has_class(c))
                        .take(12)
                        .collect(),
                ),
                "id" => (
                    !self.new_all.has(3, tok),
                    self.fresh_first(3, self.near.ids.iter()),
                    self.new_all
                        .ids
                        .iter()
                        .filter(|c| !self.old_all.has(3, c))
                        .take(12)
                        .collect(),
                ),
                a => {
                    let present = self
                        .new_all
                        .attr_values
                        .values()
                        .flatten()
                        .any(|v| v.contains(tok));
                    let near: Vec<&String> = self
                        .near
                        .attr_values
                        .get(a)
                        .map(|v| v.iter().collect())
                        .unwrap_or_default();
                    let fresh: Vec<&String> = self
                        .new_all
                        .attr_values
                        .get(a)
                        .map(|v| {
                            v.iter()
                                .filter(|x| {
                                    !self
                                        .old_all
                                        .attr_values
                                        .get(a)
                                        .is_some_and(|o| o.contains(x))
                                })
                                .take(8)
                                .collect()
                        })
                        .unwrap_or_default();
                    (!present, near, fresh)
                }
            };
            let mut repl = near;
            if broken {
                repl.extend(all_new);
            } else {
                repl.truncate(8);
            }
            let mut seen = HashSet::new();
            for r in repl {
                if r == tok || r.contains(['\'', '"']) || !seen.insert(r) {
                    continue;
                }
                let what = format!("{attr} {tok} -> {r}");
                out.push((
                    splice(expr, s, e, r),
                    if broken { 1.0 } else { 1.3 },
                    what.clone(),
                ));
                // The same token elsewhere in the selector (a predicate and its step).
                if expr.matches(tok).count() > 1 && tok.len() > 2 {
                    out.push((
                        expr.replace(tok, r),
                        if broken { 1.0 } else { 1.3 },
                        format!("{what} (every occurrence)"),
                    ));
                }
            }
        }
    }
}

/// Share of the old page's texts (other than the selected values) still on the
/// new page: close to 1 when only markup changed, lower when the data changed.
fn persistence(old: &Page, new: &Page, selected: &HashSet<String>) -> f64 {
    let mut texts = BTreeSet::new();
    collect_texts(old.root(), &mut texts, 20_000);
    texts.retain(|t| !selected.contains(t) && t.chars().count() >= 3);
    if texts.is_empty() {
        return 0.5;
    }
    let mut new_texts = BTreeSet::new();
    collect_texts(new.root(), &mut new_texts, 20_000);
    let kept = texts.iter().filter(|t| new_texts.contains(*t)).count();
    kept as f64 / texts.len() as f64
}

/// The token an edit description renames (`"class a -> b"` gives `(a, b)`).
fn rename_of(what: &str) -> Option<(String, String)> {
    if what.starts_with("position") || what.starts_with("child") || what.starts_with("class value")
    {
        return None;
    }
    let (before, after) = what.split_once(" -> ")?;
    let old = before.split_whitespace().last()?;
    let new = after.split_whitespace().next()?;
    Some((old.to_string(), new.to_string()))
}

fn is_number(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_digit() || c == '.' || c == '%')
}

/// Every text, attribute value and (when `elements`) element string of a page.
fn page_values(page: &Page, elements: bool) -> HashSet<String> {
    let mut out = HashSet::new();
    let mut stack = vec![page.root()];
    while let Some(n) = stack.pop() {
        match n.get_type() {
            Some(libxml::tree::NodeType::TextNode) => {
                out.extend(super::dom::normalize(&n.get_content()))
            }
            Some(libxml::tree::NodeType::ElementNode) => {
                out.extend(
                    n.get_attributes()
                        .values()
                        .filter_map(|v| super::dom::normalize(v)),
                );
                if elements && out.len() < 50_000 {
                    out.extend(super::dom::normalize(&n.get_content()));
                }
                stack.extend(n.get_child_nodes());
            }
            _ => {}
        }
    }
    out
}

fn collect_texts(node: RoNode, out: &mut BTreeSet<String>, cap: usize) {
    let mut stack = vec![node];
    while let Some(n) = stack.pop() {
        if out.len() >= cap {
            return;
        }
        match n.get_type() {
            Some(libxml::tree::NodeType::TextNode) => {
                if let Some(t) = super::dom::normalize(&n.get_content()) {
                    out.insert(t);
                }
            }
            Some(libxml::tree::NodeType::ElementNode) => {
                let mut kids = n.get_child_nodes();
                kids.reverse();
                stack.extend(kids);
            }
            _ => {}
        }
    }
}

/// The healer's own confidence for its best candidate: the fit, discounted
/// when a different answer fits almost as well, and for larger edits.
fn confidence(best: &Candidate, runner_up: f64) -> f64 {
    let margin = (best.fit.total - runner_up).clamp(0.0, 1.0);
    let margin_factor = 0.85 + 0.15 * (margin / 0.10).min(1.0);
    (best.fit.total * margin_factor).clamp(0.0, 1.0)
}
