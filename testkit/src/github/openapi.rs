//! GitHub's published OpenAPI description (npm `@octokit/openapi` 23.0.2) as the
//! contract every request to the fake, and every answer from it, is held to.
//!
//! The document is parsed once per process. Schemas are translated from
//! OpenAPI 3.0 to JSON Schema (draft 4) and compiled lazily, one operation at a
//! time, so a test pays only for the operations it uses.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};

use serde_json::{Map, Value, json};

/// Where `scripts/test-setup` unpacks the pinned description, relative to the repository root.
pub const SPEC_RELATIVE_PATH: &str =
    ".cache/npm/@octokit__openapi-23.0.2/package/generated/api.github.com.json";

/// Why the description could not be loaded.
#[derive(Debug, Clone, thiserror::Error)]
pub enum SpecError {
    #[error(
        "GitHub's OpenAPI description is missing at {path}: run `bash scripts/test-setup` from the repository root to fetch npm @octokit/openapi 23.0.2"
    )]
    Missing { path: String },
    #[error("GitHub's OpenAPI description at {path} is unreadable: {reason}")]
    Unreadable { path: String, reason: String },
}

/// One path segment of an operation's path template.
#[derive(Debug, Clone)]
enum Segment {
    Literal(String),
    Param { name: String, multi: bool },
}

#[derive(Debug, Clone)]
struct Route {
    method: String,
    template: String,
    segments: Vec<Segment>,
    operation_id: String,
}

/// Route preference: (matched without spanning segments, literal segments matched).
type Score = (bool, usize);
type Params = HashMap<String, String>;

/// A request resolved to one operation of the description.
#[derive(Debug, Clone)]
pub struct MatchedOperation {
    /// GitHub's `operationId`, e.g. `pulls/merge`.
    pub operation_id: String,
    /// The path template, e.g. `/repos/{owner}/{repo}/pulls/{pull_number}/merge`.
    pub template: String,
    /// Path parameters, percent-decoded.
    pub params: HashMap<String, String>,
}

/// Why a request did not resolve to an operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteError {
    UnknownPath,
    MethodNotAllowed { allowed: Vec<String> },
}

/// The parsed description with its route table and a cache of compiled validators.
pub struct Spec {
    doc: Value,
    routes: Vec<Route>,
    /// operationId -> (method, template) for lookups by id.
    by_id: HashMap<String, (String, String)>,
    validators: Mutex<HashMap<String, Arc<Result<jsonschema::Validator, String>>>>,
}

static SPEC: OnceLock<Result<Spec, SpecError>> = OnceLock::new();

/// The repository root, found from this crate's manifest directory.
pub fn repository_root() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().map(PathBuf::from).unwrap_or(manifest)
}

/// The process-wide description, loaded on first use.
pub fn spec() -> Result<&'static Spec, SpecError> {
    SPEC.get_or_init(|| Spec::load(repository_root().join(SPEC_RELATIVE_PATH)))
        .as_ref()
        .map_err(Clone::clone)
}

const METHODS: [&str; 7] = ["get", "put", "post", "delete", "patch", "head", "options"];

impl Spec {
    fn load(path: PathBuf) -> Result<Spec, SpecError> {
        let shown = path.display().to_string();
        let bytes = std::fs::read(&path).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                SpecError::Missing {
                    path: shown.clone(),
                }
            } else {
                SpecError::Unreadable {
                    path: shown.clone(),
                    reason: e.to_string(),
                }
            }
        })?;
        let doc: Value = serde_json::from_slice(&bytes).map_err(|e| SpecError::Unreadable {
            path: shown.clone(),
            reason: e.to_string(),
        })?;
        Ok(Self::from_document(doc))
    }

    fn from_document(doc: Value) -> Spec {
        let mut routes = Vec::new();
        let mut by_id = HashMap::new();
        if let Some(paths) = doc.get("paths").and_then(Value::as_object) {
            for (template, item) in paths {
                for method in METHODS {
                    let Some(op) = item.get(method) else { continue };
                    let Some(id) = op.get("operationId").and_then(Value::as_str) else {
                        continue;
                    };
                    let params = collect_parameters(&doc, item, op);
                    let segments = template
                        .trim_start_matches('/')
                        .split('/')
                        .map(
                            |s| match s.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                                Some(name) => Segment::Param {
                                    name: name.to_string(),
                                    multi: params.iter().any(|p| {
                                        p.get("name").and_then(Value::as_str) == Some(name)
                                            && p.get("x-multi-segment").and_then(Value::as_bool)
                                                == Some(true)
                                    }),
                                },
                                None => Segment::Literal(s.to_string()),
                            },
                        )
                        .collect();
                    by_id.insert(id.to_string(), (method.to_string(), template.clone()));
                    routes.push(Route {
                        method: method.to_uppercase(),
                        template: template.clone(),
                        segments,
                        operation_id: id.to_string(),
                    });
                }
            }
        }
        Spec {
            doc,
            routes,
            by_id,
            validators: Mutex::new(HashMap::new()),
        }
    }

    /// Whether `operation_id` names an operation of the description.
    pub fn has_operation(&self, operation_id: &str) -> bool {
        self.by_id.contains_key(operation_id)
    }

    /// Resolves `method` + `path` (no query string) to an operation.
    ///
    /// An exact segment-for-segment match wins; otherwise a parameter GitHub
    /// marks `x-multi-segment` (or a trailing branch name) may span several
    /// segments. Among candidates, more literal segments win.
    pub fn match_route(&self, method: &str, path: &str) -> Result<MatchedOperation, RouteError> {
        let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        let mut best: Option<(Score, &Route, Params)> = None;
        let mut allowed = Vec::new();
        for route in &self.routes {
            let Some((greedy, literals, params)) = match_segments(&route.segments, &parts) else {
                continue;
            };
            if route.method != method {
                allowed.push(route.method.clone());
                continue;
            }
            let score = (!greedy, literals);
            if best.as_ref().is_none_or(|(s, _, _)| score > *s) {
                best = Some((score, route, params));
            }
        }
        match best {
            Some((_, route, params)) => Ok(MatchedOperation {
                operation_id: route.operation_id.clone(),
                template: route.template.clone(),
                params,
            }),
            None if allowed.is_empty() => Err(RouteError::UnknownPath),
            None => {
                allowed.sort();
                allowed.dedup();
                Err(RouteError::MethodNotAllowed { allowed })
            }
        }
    }

    fn operation(&self, operation_id: &str) -> Option<(&Value, &Value)> {
        let (method, template) = self.by_id.get(operation_id)?;
        let item = self.doc.get("paths")?.get(template)?;
        Some((item, item.get(method)?))
    }

    /// Checks a request's query and JSON body against `operation_id`.
    /// Returns every problem found, each naming the parameter or body location.
    pub fn check_request(
        &self,
        operation_id: &str,
        query: &[(String, String)],
        body: Option<&Value>,
    ) -> Vec<String> {
        let mut problems = Vec::new();
        let Some((item, op)) = self.operation(operation_id) else {
            return vec![format!(
                "operation {operation_id} is not in the description"
            )];
        };
        for param in collect_parameters(&self.doc, item, op) {
            if param.get("in").and_then(Value::as_str) != Some("query") {
                continue;
            }
            let Some(name) = param.get("name").and_then(Value::as_str) else {
                continue;
            };
            let value = query.iter().find(|(k, _)| k == name).map(|(_, v)| v);
            let required = param.get("required").and_then(Value::as_bool) == Some(true);
            match value {
                None if required => {
                    problems.push(format!("required query parameter `{name}` is missing"))
                }
                None => {}
                Some(v) => {
                    let schema = param
                        .get("schema")
                        .map(|s| self.resolve(s))
                        .unwrap_or(&Value::Null);
                    if let Some(problem) = check_query_value(name, v, schema) {
                        problems.push(problem);
                    }
                }
            }
        }
        let request_body = op.get("requestBody").map(|b| self.resolve(b));
        match (request_body, body) {
            (Some(rb), None) => {
                if rb.get("required").and_then(Value::as_bool) == Some(true) {
                    problems.push("a request body is required and none was sent".to_string());
                }
            }
            (Some(rb), Some(body)) => {
                if let Some(schema) = json_schema_of(rb) {
                    let key = format!("{operation_id} request");
                    problems.extend(self.validate_with(&key, schema, body));
                }
            }
            (None, Some(body)) => {
                let empty = body.is_null() || body.as_object().is_some_and(Map::is_empty);
                if !empty {
                    problems
                        .push("the operation takes no request body, but one was sent".to_string());
                }
            }
            (None, None) => {}
        }
        problems
    }

    /// The JSON schema (raw OpenAPI form) of `operation_id`'s response with `status`,
    /// or `None` when that status is undocumented or has no JSON body.
    pub fn response_schema(&self, operation_id: &str, status: u16) -> Option<&Value> {
        let (_, op) = self.operation(operation_id)?;
        let response = op.get("responses")?.get(status.to_string())?;
        json_schema_of(self.resolve(response))
    }

    /// Whether the description documents `status` for `operation_id`.
    pub fn documents_status(&self, operation_id: &str, status: u16) -> bool {
        self.operation(operation_id)
            .and_then(|(_, op)| op.get("responses"))
            .is_some_and(|r| r.get(status.to_string()).is_some())
    }

    /// Validates a response body; each problem names the JSON location.
    pub fn check_response(&self, operation_id: &str, status: u16, body: &Value) -> Vec<String> {
        match self.response_schema(operation_id, status) {
            Some(schema) => {
                let key = format!("{operation_id} response {status}");
                self.validate_with(&key, schema, body)
            }
            None => Vec::new(),
        }
    }

    /// Completes `partial` with placeholder values for every required field the
    /// response schema demands and `partial` lacks, so handlers state only the
    /// fields with meaning and the answer is still a complete GitHub object.
    pub fn complete_response(&self, operation_id: &str, status: u16, partial: Value) -> Value {
        match self.response_schema(operation_id, status) {
            Some(schema) => self.fill(schema, Some(partial), 0),
            None => partial,
        }
    }

    fn validate_with(&self, key: &str, schema: &Value, instance: &Value) -> Vec<String> {
        let compiled = {
            let mut cache = self.validators.lock().unwrap_or_else(|e| e.into_inner());
            cache
                .entry(key.to_string())
                .or_insert_with(|| Arc::new(self.compile(schema)))
                .clone()
        };
        match compiled.as_ref() {
            Ok(validator) => validator
                .iter_errors(instance)
                .take(10)
                .map(|e| format!("at `{}`: {}", e.instance_path(), e))
                .collect(),
            Err(reason) => vec![format!("schema for {key} does not compile: {reason}")],
        }
    }

    fn compile(&self, schema: &Value) -> Result<jsonschema::Validator, String> {
        let root = translate(schema);
        // Gather the transitive closure of referenced components only, so the
        // compile cost follows the operation, not the 13 MB document.
        let mut components: BTreeMap<String, Value> = BTreeMap::new();
        let mut pending = Vec::new();
        collect_refs(&root, &mut pending);
        while let Some(pointer) = pending.pop() {
            if components.contains_key(&pointer) {
                continue;
            }
            let target = self
                .doc
                .pointer(pointer.trim_start_matches('#'))
                .ok_or_else(|| format!("dangling $ref {pointer}"))?;
            let translated = translate(target);
            collect_refs(&translated, &mut pending);
            components.insert(pointer, translated);
        }
        let mut document = json!({ "allOf": [root] });
        for (pointer, value) in components {
            insert_at_pointer(&mut document, pointer.trim_start_matches('#'), value);
        }
        jsonschema::options()
            .with_draft(jsonschema::Draft::Draft4)
            .should_validate_formats(true)
            .build(&document)
            .map_err(|e| e.to_string())
    }

    fn resolve<'a>(&'a self, mut value: &'a Value) -> &'a Value {
        for _ in 0..16 {
            match value.get("$ref").and_then(Value::as_str) {
                Some(r) => match self.doc.pointer(r.trim_start_matches('#')) {
                    Some(target) => value = target,
                    None => return value,
                },
                None => return value,
            }
        }
        value
    }

    /// Builds a value satisfying `schema`, keeping everything `partial` provides.
    fn fill(&self, schema: &Value, partial: Option<Value>, depth: usize) -> Value {
        let schema = self.resolve(schema);
        if depth > 48 {
            return partial.unwrap_or(Value::Null);
        }
        if let Some(all) = schema.get("allOf").and_then(Value::as_array) {
            let mut acc = partial;
            for sub in all {
                acc = Some(self.fill(sub, acc, depth + 1));
            }
            return acc.unwrap_or(Value::Null);
        }
        let alternatives = schema
            .get("oneOf")
            .or_else(|| schema.get("anyOf"))
            .and_then(Value::as_array);
        if let Some(alts) = alternatives {
            let nullable = schema.get("nullable").and_then(Value::as_bool) == Some(true);
            return match partial {
                None if nullable => Value::Null,
                Some(Value::Null) if nullable => Value::Null,
                None => alts
                    .first()
                    .map(|a| self.fill(a, None, depth + 1))
                    .unwrap_or(Value::Null),
                Some(p) => {
                    let pick = alts
                        .iter()
                        .max_by_key(|a| self.fit(a, &p))
                        .cloned()
                        .unwrap_or(Value::Null);
                    self.fill(&pick, Some(p), depth + 1)
                }
            };
        }
        let nullable = schema.get("nullable").and_then(Value::as_bool) == Some(true);
        let kind = schema
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or_else(|| {
                if schema.get("properties").is_some() {
                    "object"
                } else {
                    ""
                }
            });
        match partial {
            Some(Value::Object(mut map)) => {
                let props = schema.get("properties").and_then(Value::as_object);
                if let Some(props) = props {
                    for (key, prop) in props {
                        if let Some(existing) = map.remove(key) {
                            let filled = self.fill(prop, Some(existing), depth + 1);
                            map.insert(key.clone(), filled);
                        }
                    }
                    for key in required_of(schema) {
                        if !map.contains_key(&key) {
                            let filled = match props.get(&key) {
                                Some(prop) => self.fill(prop, None, depth + 1),
                                None => Value::Null,
                            };
                            map.insert(key, filled);
                        }
                    }
                }
                Value::Object(map)
            }
            Some(Value::Array(items)) => match schema.get("items") {
                Some(item_schema) => Value::Array(
                    items
                        .into_iter()
                        .map(|i| self.fill(item_schema, Some(i), depth + 1))
                        .collect(),
                ),
                None => Value::Array(items),
            },
            Some(other) => other,
            None if nullable => Value::Null,
            None => {
                if let Some(first) = schema
                    .get("enum")
                    .and_then(Value::as_array)
                    .and_then(|e| e.first())
                {
                    return first.clone();
                }
                match kind {
                    "string" => Value::String(
                        placeholder_string(schema.get("format").and_then(Value::as_str))
                            .to_string(),
                    ),
                    "integer" | "number" => schema.get("minimum").cloned().unwrap_or(json!(0)),
                    "boolean" => Value::Bool(false),
                    "array" => Value::Array(Vec::new()),
                    "object" => self.fill(schema, Some(Value::Object(Map::new())), depth + 1),
                    _ => Value::Null,
                }
            }
        }
    }

    /// How well `value` fits an alternative: matching JSON type first, then shared keys.
    fn fit(&self, alternative: &Value, value: &Value) -> (bool, usize) {
        let alt = self.resolve(alternative);
        let kind = alt.get("type").and_then(Value::as_str);
        let type_ok = matches!(
            (kind, value),
            (Some("object"), Value::Object(_))
                | (Some("array"), Value::Array(_))
                | (Some("string"), Value::String(_))
                | (Some("boolean"), Value::Bool(_))
                | (None, _)
                | (Some("integer") | Some("number"), Value::Number(_))
        );
        let shared = match (alt.get("properties").and_then(Value::as_object), value) {
            (Some(props), Value::Object(map)) => {
                map.keys().filter(|k| props.contains_key(*k)).count()
            }
            _ => 0,
        };
        (type_ok, shared)
    }
}

fn placeholder_string(format: Option<&str>) -> &'static str {
    match format {
        Some("date-time") => "2026-01-01T00:00:00Z",
        Some("date") => "2026-01-01",
        Some("uri") | Some("url") => "https://fake-github.invalid/placeholder",
        Some("email") => "noreply@example.com",
        Some("uuid") => "00000000-0000-0000-0000-000000000000",
        Some("ipv4") => "127.0.0.1",
        _ => "",
    }
}

fn required_of(schema: &Value) -> Vec<String> {
    schema
        .get("required")
        .and_then(Value::as_array)
        .map(|r| {
            r.iter()
                .filter_map(Value::as_str)
                .map(String::from)
                .collect()
        })
        .unwrap_or_default()
}

fn check_query_value(name: &str, value: &str, schema: &Value) -> Option<String> {
    if let Some(options) = schema.get("enum").and_then(Value::as_array)
        && !options.iter().any(|o| o.as_str() == Some(value))
    {
        return Some(format!(
            "query parameter `{name}`={value:?} is not one of {}",
            Value::Array(options.clone())
        ));
    }
    match schema.get("type").and_then(Value::as_str) {
        Some("integer") if value.parse::<i64>().is_err() => Some(format!(
            "query parameter `{name}`={value:?} is not an integer"
        )),
        Some("boolean") if value != "true" && value != "false" => Some(format!(
            "query parameter `{name}`={value:?} is not a boolean"
        )),
        _ => None,
    }
}

/// Trailing parameters GitHub accepts with unescaped slashes though the description does not say so.
const SLASHY_PARAMS: [&str; 3] = ["branch", "ref", "path"];

fn match_segments(
    segments: &[Segment],
    parts: &[&str],
) -> Option<(bool, usize, HashMap<String, String>)> {
    let mut params = HashMap::new();
    let mut literals = 0;
    let mut greedy = false;
    let mut i = 0;
    for (index, segment) in segments.iter().enumerate() {
        let last = index + 1 == segments.len();
        match segment {
            Segment::Literal(lit) => {
                if parts.get(i) != Some(&lit.as_str()) {
                    return None;
                }
                literals += 1;
                i += 1;
            }
            Segment::Param { name, multi } => {
                let remaining_literals = segments.len() - index - 1;
                let available = parts.len().checked_sub(i + remaining_literals)?;
                if available == 0 {
                    return None;
                }
                // Branch names hold slashes and clients send them unescaped;
                // no other parameter may swallow what could be a wrong path.
                let spans = *multi || (last && SLASHY_PARAMS.contains(&name.as_str()));
                let take = if available > 1 && spans {
                    greedy |= !*multi;
                    available
                } else {
                    1
                };
                let raw = parts[i..i + take].join("/");
                if raw.is_empty() {
                    return None;
                }
                params.insert(name.clone(), percent_decode(&raw));
                i += take;
            }
        }
    }
    (i == parts.len()).then_some((greedy, literals, params))
}

/// Decodes `%XX` escapes; invalid escapes are kept as written.
pub fn percent_decode(raw: &str) -> String {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let (Some(hi), Some(lo)) = (hex_digit(bytes[i + 1]), hex_digit(bytes[i + 2]))
        {
            out.push(hi * 16 + lo);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex_digit(b: u8) -> Option<u8> {
    (b as char).to_digit(16).and_then(|d| u8::try_from(d).ok())
}

fn collect_parameters<'a>(doc: &'a Value, item: &'a Value, op: &'a Value) -> Vec<&'a Value> {
    let resolve = |p: &'a Value| -> &'a Value {
        match p.get("$ref").and_then(Value::as_str) {
            Some(r) => doc.pointer(r.trim_start_matches('#')).unwrap_or(p),
            None => p,
        }
    };
    item.get("parameters")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .chain(
            op.get("parameters")
                .and_then(Value::as_array)
                .into_iter()
                .flatten(),
        )
        .map(resolve)
        .collect()
}

/// The schema of the `application/json` content (or the first JSON-like one).
fn json_schema_of(container: &Value) -> Option<&Value> {
    let content = container.get("content")?.as_object()?;
    content
        .get("application/json")
        .or_else(|| {
            content
                .iter()
                .find(|(k, _)| k.ends_with("json") || k.starts_with("application/vnd.github"))
                .map(|(_, v)| v)
        })?
        .get("schema")
}

/// OpenAPI 3.0 schema object -> JSON Schema draft 4.
///
/// `nullable` becomes an `anyOf` with `null` (robust next to `allOf`/`$ref`);
/// `oneOf` becomes `anyOf`, because GitHub's alternatives overlap (an empty
/// array or a sparse object matches several) and GitHub itself does not
/// enforce exclusivity; annotation-only keywords are dropped.
fn translate(schema: &Value) -> Value {
    let Value::Object(map) = schema else {
        return schema.clone();
    };
    if let Some(r) = map.get("$ref") {
        return json!({ "$ref": r });
    }
    let mut out = Map::new();
    for (key, value) in map {
        match key.as_str() {
            "nullable" | "example" | "examples" | "discriminator" | "xml" | "externalDocs"
            | "deprecated" | "readOnly" | "writeOnly" | "description" | "title" => {}
            k if k.starts_with("x-") => {}
            "properties" | "patternProperties" => {
                let translated = value
                    .as_object()
                    .map(|props| {
                        props
                            .iter()
                            .map(|(k, v)| (k.clone(), translate(v)))
                            .collect::<Map<String, Value>>()
                    })
                    .unwrap_or_default();
                out.insert(key.clone(), Value::Object(translated));
            }
            "items" | "additionalProperties" | "not" => {
                out.insert(key.clone(), translate(value));
            }
            "allOf" | "anyOf" | "oneOf" => {
                let translated = value
                    .as_array()
                    .map(|alts| alts.iter().map(translate).collect::<Vec<_>>())
                    .unwrap_or_default();
                let target = if key == "oneOf" {
                    "anyOf"
                } else {
                    key.as_str()
                };
                if target == "anyOf"
                    && let Some(Value::Array(existing)) = out.get_mut("anyOf")
                {
                    existing.extend(translated);
                    continue;
                }
                out.insert(target.to_string(), Value::Array(translated));
            }
            _ => {
                out.insert(key.clone(), value.clone());
            }
        }
    }
    if map.get("nullable").and_then(Value::as_bool) == Some(true) {
        return json!({ "anyOf": [ { "type": "null" }, Value::Object(out) ] });
    }
    Value::Object(out)
}

fn collect_refs(value: &Value, into: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(r)) = map.get("$ref") {
                into.push(r.clone());
            }
            for v in map.values() {
                collect_refs(v, into);
            }
        }
        Value::Array(items) => items.iter().for_each(|v| collect_refs(v, into)),
        _ => {}
    }
}

fn insert_at_pointer(document: &mut Value, pointer: &str, value: Value) {
    let parts: Vec<String> = pointer
        .trim_start_matches('/')
        .split('/')
        .map(|p| p.replace("~1", "/").replace("~0", "~"))
        .collect();
    let mut node = document;
    for (i, part) in parts.iter().enumerate() {
        let Value::Object(map) = node else { return };
        if i + 1 == parts.len() {
            map.insert(part.clone(), value);
            return;
        }
        node = map
            .entry(part.clone())
            .or_insert_with(|| Value::Object(Map::new()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn responses_are_completed_from_the_schema_and_wrong_fields_still_fail() {
        let spec = match spec() {
            Ok(s) => s,
            Err(e) => panic!("{e}"),
        };
        let partial = json!({ "number": 3, "title": "t", "state": "open" });
        let full = spec.complete_response("pulls/get", 200, partial);
        assert_eq!(full["number"], 3);
        assert!(full.get("head").is_some() && full.get("_links").is_some());
        assert_eq!(
            spec.check_response("pulls/get", 200, &full),
            Vec::<String>::new()
        );
        let mut broken = full.clone();
        broken["number"] = json!("three");
        let problems = spec.check_response("pulls/get", 200, &broken);
        assert!(
            problems.iter().any(|p| p.contains("/number")),
            "{problems:?}"
        );
        let route = spec.match_route("PUT", "/repos/o/r/pulls/3/merge");
        assert_eq!(
            route.map(|m| m.operation_id).ok().as_deref(),
            Some("pulls/merge")
        );
        let route = spec.match_route("GET", "/repos/o/r/contents/a/b/c.py");
        assert_eq!(
            route.map(|m| m.params["path"].clone()).ok().as_deref(),
            Some("a/b/c.py")
        );
        assert_eq!(
            spec.match_route("GET", "/repos/o/r/nope").err(),
            Some(RouteError::UnknownPath)
        );
    }

    #[test]
    fn nullable_becomes_null_alternative_and_one_of_becomes_any_of() {
        let t = translate(&json!({"type": "string", "nullable": true, "example": "x"}));
        assert_eq!(t, json!({"anyOf": [{"type": "null"}, {"type": "string"}]}));
        let t = translate(&json!({"oneOf": [{"type": "string"}, {"type": "integer"}]}));
        assert_eq!(
            t,
            json!({"anyOf": [{"type": "string"}, {"type": "integer"}]})
        );
        let t =
            translate(&json!({"properties": {"example": {"type": "string", "description": "d"}}}));
        assert_eq!(t, json!({"properties": {"example": {"type": "string"}}}));
    }

    #[test]
    fn trailing_params_span_segments_only_when_nothing_exact_matches() {
        let segs = |t: &str| -> Vec<Segment> {
            t.split('/')
                .map(
                    |s| match s.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                        Some(n) => Segment::Param {
                            name: n.into(),
                            multi: false,
                        },
                        None => Segment::Literal(s.into()),
                    },
                )
                .collect()
        };
        let parts = ["repos", "o", "r", "branches", "fixwright", "a", "1"];
        let (greedy, literals, params) =
            match_segments(&segs("repos/{owner}/{repo}/branches/{branch}"), &parts).unwrap();
        assert!(greedy);
        assert_eq!(literals, 2);
        assert_eq!(params["branch"], "fixwright/a/1");
        assert!(
            match_segments(
                &segs("repos/{owner}/{repo}/branches/{branch}/protection"),
                &parts
            )
            .is_none()
        );
        assert_eq!(percent_decode("a%2Fb%20c"), "a/b c");
    }
}
