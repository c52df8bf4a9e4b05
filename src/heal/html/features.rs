//! What a node looks like, structurally, and how alike two nodes are: the
//! weighted similarity the healer uses to recognise "the same node" in a
//! changed page (in the spirit of Healenium's self-healing locators).

use std::collections::BTreeSet;

use libxml::readonly::RoNode;
use libxml::tree::NodeType;

use super::dom::normalize;

/// Attributes that carry no identity (presentation, data that changes per record).
const NOISY_ATTRS: &[&str] = &["style", "class", "id"];

/// A structural description of one element and its surroundings.
#[derive(Clone, Debug, Default)]
pub struct Fingerprint {
    pub tag: String,
    pub id: Option<String>,
    pub classes: BTreeSet<String>,
    pub attr_names: BTreeSet<String>,
    /// Ancestor tags from the root down to the parent.
    pub path: Vec<String>,
    /// Classes and ids of the nearest ancestors.
    pub ancestor_marks: BTreeSet<String>,
    /// 1-based position among same-tag element siblings.
    pub index: usize,
    /// Number of element siblings including itself.
    pub siblings: usize,
    pub child_tags: BTreeSet<String>,
    /// Static text that labels this node: a table column header or a
    /// preceding label element (`<b>Date:</b>`, `<dt>`, `<th>`).
    pub label: Option<String>,
}

impl Fingerprint {
    pub fn of(node: RoNode) -> Fingerprint {
        let tag = node.get_name().to_ascii_lowercase();
        let mut fp = Fingerprint {
            tag: tag.clone(),
            ..Fingerprint::default()
        };
        for (name, value) in node.get_attributes() {
            match name.as_str() {
                "id" => fp.id = Some(value),
                "class" => fp.classes = value.split_whitespace().map(str::to_string).collect(),
                n if NOISY_ATTRS.contains(&n) => {}
                _ => {
                    fp.attr_names.insert(name);
                }
            }
        }
        let mut up = node.get_parent();
        let mut level = 0;
        while let Some(p) = up {
            if p.get_type() != Some(NodeType::ElementNode) {
                break;
            }
            fp.path.push(p.get_name().to_ascii_lowercase());
            if level < 4 {
                if let Some(c) = p.get_attribute("class") {
                    fp.ancestor_marks
                        .extend(c.split_whitespace().map(|c| format!(".{c}")));
                }
                if let Some(i) = p.get_attribute("id") {
                    fp.ancestor_marks.insert(format!("#{i}"));
                }
            }
            level += 1;
            up = p.get_parent();
        }
        fp.path.reverse();
        if let Some(parent) = node.get_parent() {
            let kids = parent.get_child_elements();
            fp.siblings = kids.len();
            let mut same = 0;
            for k in kids {
                if k.get_name().eq_ignore_ascii_case(&tag) {
                    same += 1;
                }
                if k.to_hashable() == node.to_hashable() {
                    fp.index = same;
                    break;
                }
            }
        }
        fp.child_tags = node
            .get_child_elements()
            .into_iter()
            .map(|k| k.get_name().to_ascii_lowercase())
            .collect();
        fp.label = label_of(node);
        fp
    }
}

impl Fingerprint {
    /// This fingerprint with tokens renamed (tag, class, id and attribute
    /// names, also in the ancestors).
    pub fn renamed(&self, renames: &[(String, String)]) -> Fingerprint {
        let map = |t: &String| {
            renames
                .iter()
                .find(|(a, _)| a == t)
                .map_or_else(|| t.clone(), |(_, b)| b.clone())
        };
        let mark = |m: &String| {
            let (sigil, name) = m.split_at(1);
            format!("{sigil}{}", map(&name.to_string()))
        };
        Fingerprint {
            tag: map(&self.tag),
            id: self.id.as_ref().map(map),
            classes: self.classes.iter().map(map).collect(),
            attr_names: self.attr_names.iter().map(map).collect(),
            path: self.path.iter().map(map).collect(),
            ancestor_marks: self.ancestor_marks.iter().map(mark).collect(),
            ..self.clone()
        }
    }
}

/// Static text near a node that names what it holds.
pub fn label_of(node: RoNode) -> Option<String> {
    if let Some(h) = column_header(node) {
        return Some(h);
    }
    let mut prev = node.get_prev_element_sibling();
    let mut steps = 0;
    while let Some(p) = prev {
        let name = p.get_name().to_ascii_lowercase();
        let text = normalize(&p.get_content())?;
        if matches!(
            name.as_str(),
            "th" | "dt" | "label" | "b" | "strong" | "h1" | "h2" | "h3" | "h4" | "h5" | "h6"
        ) && text.chars().count() <= 40
            || text.ends_with(':') && text.chars().count() <= 40
        {
            return Some(text);
        }
        steps += 1;
        if steps > 1 {
            break;
        }
        prev = p.get_prev_element_sibling();
    }
    None
}

/// The header text of the table column `node` (or its nearest cell ancestor)
/// sits in.
fn column_header(node: RoNode) -> Option<String> {
    let mut cell = Some(node);
    for _ in 0..4 {
        let c = cell?;
        let name = c.get_name().to_ascii_lowercase();
        if name == "td" || name == "th" {
            break;
        }
        cell = c.get_parent();
    }
    let cell = cell?;
    let cname = cell.get_name().to_ascii_lowercase();
    if cname != "td" && cname != "th" {
        return None;
    }
    let row = cell.get_parent()?;
    let col = row
        .get_child_elements()
        .iter()
        .position(|k| k.to_hashable() == cell.to_hashable())?;
    let mut table = row.get_parent()?;
    if table.get_name().eq_ignore_ascii_case("tbody")
        || table.get_name().eq_ignore_ascii_case("thead")
    {
        table = table.get_parent()?;
    }
    // The first row whose cells are headers.
    let mut stack = table.get_child_elements();
    stack.reverse();
    while let Some(n) = stack.pop() {
        let nm = n.get_name().to_ascii_lowercase();
        if nm == "tr" {
            let cells = n.get_child_elements();
            if cells
                .iter()
                .any(|c| c.get_name().eq_ignore_ascii_case("th"))
            {
                return cells.get(col).and_then(|c| normalize(&c.get_content()));
            }
        } else if nm == "thead" || nm == "tbody" {
            let mut kids = n.get_child_elements();
            kids.reverse();
            stack.extend(kids);
        }
    }
    None
}

fn jaccard(a: &BTreeSet<String>, b: &BTreeSet<String>) -> f64 {
    if a.is_empty() && b.is_empty() {
        return 1.0;
    }
    let inter = a.intersection(b).count() as f64;
    inter / (a.len() as f64 + b.len() as f64 - inter)
}

fn lcs(a: &[String], b: &[String]) -> usize {
    let mut row = vec![0usize; b.len() + 1];
    for x in a {
        let mut prev = 0;
        for (j, y) in b.iter().enumerate() {
            let tmp = row[j + 1];
            row[j + 1] = if x == y {
                prev + 1
            } else {
                row[j + 1].max(row[j])
            };
            prev = tmp;
        }
    }
    row[b.len()]
}

/// Similarity of two elements in [0, 1], from structure only.
pub fn similarity(a: &Fingerprint, b: &Fingerprint) -> f64 {
    let mut score = 0.0;
    let mut weight = 0.0;
    let mut add = |w: f64, s: f64| {
        score += w * s;
        weight += w;
    };
    add(1.5, f64::from(u8::from(a.tag == b.tag)));
    add(1.5, jaccard(&a.classes, &b.classes));
    if a.id.is_some() || b.id.is_some() {
        add(0.7, f64::from(u8::from(a.id == b.id)));
    }
    add(1.0, jaccard(&a.attr_names, &b.attr_names));
    let longest = a.path.len().max(b.path.len()).max(1);
    add(2.0, lcs(&a.path, &b.path) as f64 / longest as f64);
    add(1.0, jaccard(&a.ancestor_marks, &b.ancestor_marks));
    let d = a.index.abs_diff(b.index) as f64;
    add(0.7, 1.0 / (1.0 + d));
    add(0.4, 1.0 / (1.0 + a.siblings.abs_diff(b.siblings) as f64));
    add(0.5, jaccard(&a.child_tags, &b.child_tags));
    match (&a.label, &b.label) {
        (Some(x), Some(y)) => add(1.5, f64::from(u8::from(x == y))),
        (Some(_), None) | (None, Some(_)) => add(0.5, 0.0),
        (None, None) => {}
    }
    score / weight
}

/// A value's shape: letters, digits and spaces as classes, runs collapsed
/// (`"Oct 9, 2026"` becomes `"Aa 9, 9"`), so values of one field look alike
/// even when the data changed.
pub fn shape(s: &str) -> Vec<char> {
    let mut out: Vec<char> = Vec::new();
    for c in s.chars() {
        let k = if c.is_uppercase() {
            'A'
        } else if c.is_alphabetic() {
            'a'
        } else if c.is_ascii_digit() {
            '9'
        } else if c.is_whitespace() {
            ' '
        } else {
            c
        };
        if out.last() != Some(&k) {
            out.push(k);
        }
        if out.len() >= 48 {
            break;
        }
    }
    out
}

fn levenshtein(a: &[char], b: &[char]) -> usize {
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, x) in a.iter().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, y) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(x != y))
                .min(row[j] + 1)
                .min(row[j + 1] + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

/// How alike two values look, in [0, 1]: shape and length, not content.
pub fn value_likeness(a: &str, b: &str) -> f64 {
    let (sa, sb) = (shape(a), shape(b));
    let longest = sa.len().max(sb.len()).max(1);
    let shape_sim = 1.0 - levenshtein(&sa, &sb) as f64 / longest as f64;
    let (la, lb) = (a.chars().count() as f64, b.chars().count() as f64);
    let len_sim = la.min(lb) / la.max(lb).max(1.0);
    0.7 * shape_sim + 0.3 * len_sim
}
