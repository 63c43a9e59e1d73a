//! Layering of settings: built-in defaults < `autodev.toml` < `AUTODEV_*` environment < flags.
//!
//! Every layer is merged into one TOML tree, and every key remembers which layer set it, so
//! that errors can point at the file position, variable or flag responsible, and
//! `autodev config show` can say where each value came from. The tree is deserialized into
//! [`Config`] exactly once, with unknown keys collected as warnings and type errors mapped back
//! to their origin.

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};

use toml::{Table, Value};

use super::model::Config;
use crate::error::{ConfigOrigin, Error, Result};

/// Where the value in force for one key came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Default,
    File { line: usize },
    Env(String),
    Flag(String),
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Default => f.write_str("default"),
            Source::File { line } => write!(f, "autodev.toml:{line}"),
            Source::Env(name) => write!(f, "env {name}"),
            Source::Flag(flag) => write!(f, "flag {flag}"),
        }
    }
}

/// A value given on the command line for one key (`--set key=value`, or a command's own flag).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Override {
    /// Dotted key, such as `run.max_retries`.
    pub key: String,
    /// The text as given; parsed by the key's type.
    pub value: String,
    /// The flag as the user wrote it, for messages and `config show`.
    pub flag: String,
}

impl Override {
    /// Parses `key=value` as given to `--set`.
    pub fn parse_assignment(text: &str) -> std::result::Result<Override, String> {
        let (key, value) = text
            .split_once('=')
            .ok_or_else(|| format!("expected KEY=VALUE, got `{text}`"))?;
        Ok(Override {
            key: key.trim().to_string(),
            value: value.to_string(),
            flag: format!("--set {text}"),
        })
    }
}

/// A non-fatal problem found while loading, shown as a `warning:` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning(pub String);

/// The kind of a leaf key, taken from its default value; drives the parsing of env and flag text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Bool,
    Integer,
    Float,
    String,
    Array,
    Table,
}

impl Kind {
    fn of(value: &Value) -> Kind {
        match value {
            Value::Boolean(_) => Kind::Bool,
            Value::Integer(_) => Kind::Integer,
            Value::Float(_) => Kind::Float,
            Value::Array(_) => Kind::Array,
            Value::Table(_) => Kind::Table,
            Value::String(_) | Value::Datetime(_) => Kind::String,
        }
    }
}

/// Positions of the keys and values of one config file.
#[derive(Debug, Default)]
struct Locations {
    keys: BTreeMap<String, (usize, usize)>,
    values: BTreeMap<String, (usize, usize)>,
}

/// The merged settings tree, before and after deserialization.
#[derive(Debug)]
pub struct Layered {
    pub config: Config,
    /// Every leaf key that a layer above the defaults set, with that layer.
    pub sources: BTreeMap<String, Source>,
    /// The merged tree, in key order of the model (for `config show`).
    pub tree: Table,
    pub warnings: Vec<Warning>,
    /// The warnings about unknown keys that look like a misspelt `[verification]` setting: a
    /// run refuses to start on them, since the setting would silently not hold.
    pub guarding: Vec<String>,
}

/// The defaults as a TOML tree; its leaves are the known keys.
pub(crate) fn defaults_tree() -> Table {
    match Value::try_from(Config::default()) {
        Ok(Value::Table(table)) => table,
        // The model serializes to a table by construction; anything else is a programming error
        // caught by the unit tests below.
        _ => Table::new(),
    }
}

/// Every known leaf key with its kind: nested struct tables recurse, free-form maps
/// (empty tables in the defaults, such as `verification.validate_environment`) are leaves.
fn leaves(table: &Table, prefix: &str, out: &mut BTreeMap<String, Kind>) {
    for (key, value) in table {
        let path = join(prefix, key);
        match value {
            Value::Table(inner) if !inner.is_empty() => leaves(inner, &path, out),
            other => {
                out.insert(path, Kind::of(other));
            }
        }
    }
}

fn join(prefix: &str, key: &str) -> String {
    if prefix.is_empty() {
        key.to_string()
    } else {
        format!("{prefix}.{key}")
    }
}

/// 1-based line and column of a byte offset.
pub(crate) fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}

fn locate(text: &str) -> Locations {
    let mut locations = Locations::default();
    if let Ok(doc) = toml::de::DeTable::parse(text) {
        walk_locations(text, doc.get_ref(), "", &mut locations);
    }
    locations
}

fn walk_locations(text: &str, table: &toml::de::DeTable<'_>, prefix: &str, out: &mut Locations) {
    for (key, value) in table {
        let path = join(prefix, key.get_ref());
        out.keys
            .insert(path.clone(), line_col(text, key.span().start));
        out.values
            .insert(path.clone(), line_col(text, value.span().start));
        match value.get_ref() {
            toml::de::DeValue::Table(inner) => walk_locations(text, inner, &path, out),
            toml::de::DeValue::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    out.values
                        .insert(format!("{path}[{i}]"), line_col(text, item.span().start));
                }
            }
            _ => {}
        }
    }
}

/// A dotted key and then each of its parents: `a.b[1]`, `a.b`, `a`.
fn key_and_parents(key: &str) -> impl Iterator<Item = &str> {
    std::iter::successors(Some(key), |k| k.rfind(['.', '[']).map(|i| &k[..i]))
}

/// The file layer: parsed text plus where each key sits.
struct FileLayer {
    path: PathBuf,
    table: Table,
    locations: Locations,
}

impl FileLayer {
    fn parse(path: &Path, text: &str) -> Result<FileLayer> {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let mut table: Table = toml::from_str(text).map_err(|e| {
            let (line, column) = e.span().map_or((1, 1), |s| line_col(text, s.start));
            Error::ConfigSyntax {
                path: path.to_path_buf(),
                line,
                column,
                message: e.message().trim().to_string(),
            }
        })?;
        let mut locations = locate(text);
        // `[gate]` is the original's name for `[verification]`; honour it when alone.
        if !table.contains_key("verification")
            && let Some(gate) = table.remove("gate")
        {
            table.insert("verification".into(), gate);
            locations.keys = rename_prefix(locations.keys, "gate", "verification");
            locations.values = rename_prefix(locations.values, "gate", "verification");
        }
        Ok(FileLayer {
            path: path.to_path_buf(),
            table,
            locations,
        })
    }

    fn origin_of(&self, key: &str, at_value: bool) -> ConfigOrigin {
        let map = if at_value {
            &self.locations.values
        } else {
            &self.locations.keys
        };
        let (line, column) = key_and_parents(key)
            .find_map(|k| map.get(k).copied())
            .unwrap_or((1, 1));
        ConfigOrigin::File {
            path: self.path.clone(),
            line,
            column,
        }
    }
}

fn rename_prefix(
    map: BTreeMap<String, (usize, usize)>,
    from: &str,
    to: &str,
) -> BTreeMap<String, (usize, usize)> {
    map.into_iter()
        .map(|(k, v)| {
            let renamed = match k.strip_prefix(from) {
                Some(rest) if rest.is_empty() || rest.starts_with(['.', '[']) => {
                    format!("{to}{rest}")
                }
                _ => k,
            };
            (renamed, v)
        })
        .collect()
}

/// Deep-merges `upper` into `lower`, recording a source for every leaf it sets.
fn merge(
    lower: &mut Table,
    upper: Table,
    prefix: &str,
    file: &FileLayer,
    sources: &mut BTreeMap<String, Source>,
) {
    for (key, value) in upper {
        let path = join(prefix, &key);
        match (lower.get_mut(&key), value) {
            // Model records merge key by key; free-form maps (empty in the defaults) are
            // replaced whole, like any other value.
            (Some(Value::Table(low)), Value::Table(up)) if !low.is_empty() => {
                merge(low, up, &path, file, sources)
            }
            (_, value) => {
                let line = match file.origin_of(&path, true) {
                    ConfigOrigin::File { line, .. } => line,
                    _ => 1,
                };
                record_subtree(&path, &value, &Source::File { line }, sources);
                lower.insert(key, value);
            }
        }
    }
}

fn record_subtree(
    path: &str,
    value: &Value,
    source: &Source,
    sources: &mut BTreeMap<String, Source>,
) {
    sources.retain(|k, _| !(k.starts_with(path) && k[path.len()..].starts_with('.')));
    match value {
        Value::Table(inner) if !inner.is_empty() => {
            for (k, v) in inner {
                record_subtree(&join(path, k), v, source, sources);
            }
        }
        _ => {
            sources.insert(path.to_string(), source.clone());
        }
    }
}

fn set_path(tree: &mut Table, path: &str, value: Value) {
    let mut parts: Vec<&str> = path.split('.').collect();
    let last = parts.pop().unwrap_or_default();
    let mut cursor = tree;
    for part in parts {
        let entry = cursor
            .entry(part.to_string())
            .or_insert_with(|| Value::Table(Table::new()));
        if !entry.is_table() {
            *entry = Value::Table(Table::new());
        }
        match entry {
            Value::Table(t) => cursor = t,
            _ => return,
        }
    }
    cursor.insert(last.to_string(), value);
}

const TRUE_WORDS: [&str; 4] = ["1", "true", "yes", "on"];
const FALSE_WORDS: [&str; 4] = ["0", "false", "no", "off"];

/// Parses override text by the key's kind. Lists take TOML/JSON array syntax or comma-separated
/// items; tables take a TOML inline table or a JSON object.
fn parse_text(kind: Kind, raw: &str) -> std::result::Result<Value, String> {
    let trimmed = raw.trim();
    match kind {
        Kind::Bool => {
            let word = trimmed.to_ascii_lowercase();
            if TRUE_WORDS.contains(&word.as_str()) {
                Ok(Value::Boolean(true))
            } else if FALSE_WORDS.contains(&word.as_str()) {
                Ok(Value::Boolean(false))
            } else {
                Err(format!("expected true or false, got `{raw}`"))
            }
        }
        Kind::Integer => trimmed
            .parse::<i64>()
            .map(Value::Integer)
            .map_err(|_| format!("expected a whole number, got `{raw}`")),
        Kind::Float => trimmed
            .parse::<f64>()
            .map(Value::Float)
            .map_err(|_| format!("expected a number, got `{raw}`")),
        Kind::String => Ok(Value::String(raw.to_string())),
        Kind::Array if trimmed.starts_with('[') => match parse_inline(trimmed) {
            Some(v @ Value::Array(_)) => Ok(v),
            _ => Err(format!(
                "expected a list such as [\"a\", \"b\"], got `{raw}`"
            )),
        },
        Kind::Array => Ok(Value::Array(
            trimmed
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| Value::String(s.to_string()))
                .collect(),
        )),
        Kind::Table => match parse_inline(trimmed) {
            Some(v @ Value::Table(_)) => Ok(v),
            _ => Err(format!(
                "expected a table such as {{KEY = \"value\"}} or a JSON object, got `{raw}`"
            )),
        },
    }
}

/// Parses a TOML inline value (which covers JSON arrays of scalars), then a JSON object.
fn parse_inline(text: &str) -> Option<Value> {
    if let Ok(mut table) = toml::from_str::<Table>(&format!("v = {text}")) {
        return table.remove("v");
    }
    let json: serde_json::Value = serde_json::from_str(text).ok()?;
    json_to_toml(json)
}

fn json_to_toml(json: serde_json::Value) -> Option<Value> {
    Some(match json {
        serde_json::Value::Null => return None,
        serde_json::Value::Bool(b) => Value::Boolean(b),
        serde_json::Value::Number(n) => match n.as_i64() {
            Some(i) => Value::Integer(i),
            None => Value::Float(n.as_f64()?),
        },
        serde_json::Value::String(s) => Value::String(s),
        serde_json::Value::Array(items) => {
            Value::Array(items.into_iter().filter_map(json_to_toml).collect())
        }
        serde_json::Value::Object(map) => Value::Table(
            map.into_iter()
                .filter_map(|(k, v)| json_to_toml(v).map(|v| (k, v)))
                .collect(),
        ),
    })
}

/// A deserializer's message in words for people: Rust's type names (`expected u32`) become
/// what they mean.
fn for_people(message: &str) -> String {
    [
        ("expected u8", "expected a whole number from 0 to 255"),
        ("expected u16", "expected a whole number from 0 to 65535"),
        (
            "expected u32",
            "expected a whole number from 0 to 4294967295",
        ),
        ("expected u64", "expected a whole number, 0 or more"),
        ("expected usize", "expected a whole number, 0 or more"),
        ("expected i32", "expected a whole number"),
        ("expected i64", "expected a whole number"),
        ("expected f32", "expected a number"),
        ("expected f64", "expected a number"),
    ]
    .iter()
    .fold(message.to_string(), |text, (rust, plain)| {
        text.replace(rust, plain)
    })
}

fn closest<'a>(candidates: impl Iterator<Item = &'a String>, wanted: &str) -> Option<String> {
    candidates
        .map(|c| (strsim::levenshtein(c, wanted), c))
        .filter(|(d, c)| *d <= 3.max(c.len() / 5))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c.clone())
}

const ENV_PREFIX: &str = "AUTODEV_";

/// Builds the settings in force from the file text (if any), the environment and overrides.
pub fn layer(
    file: Option<(&Path, &str)>,
    env: impl IntoIterator<Item = (OsString, OsString)>,
    overrides: &[Override],
) -> Result<Layered> {
    let mut tree = defaults_tree();
    let mut known = BTreeMap::new();
    leaves(&tree, "", &mut known);
    let mut sources = BTreeMap::new();
    let mut warnings = Vec::new();

    let file = match file {
        Some((path, text)) => Some(FileLayer::parse(path, text)?),
        None => None,
    };
    if let Some(file) = &file {
        merge(&mut tree, file.table.clone(), "", file, &mut sources);
    }

    // Environment: AUTODEV_<SECTION>_<KEY>, upper-cased, nested sections extending the prefix.
    let env_names: BTreeMap<String, String> = known
        .keys()
        .map(|k| {
            (
                format!("{ENV_PREFIX}{}", k.replace('.', "_").to_ascii_uppercase()),
                k.clone(),
            )
        })
        .collect();
    let mut env_vars: Vec<(String, String)> = env
        .into_iter()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .filter(|(k, _)| k.starts_with(ENV_PREFIX))
        .collect();
    env_vars.sort();
    for (name, raw) in env_vars {
        let Some(key) = env_names.get(&name) else {
            let hint = closest(env_names.keys(), &name)
                .map(|s| format!(" (did you mean {s}?)"))
                .unwrap_or_default();
            warnings.push(Warning(format!(
                "environment variable {name} does not name a setting and is ignored{hint}"
            )));
            continue;
        };
        let value = parse_text(known[key], &raw).map_err(|message| Error::ConfigValue {
            origin: ConfigOrigin::Env(name.clone()),
            key: key.clone(),
            message,
        })?;
        record_subtree(key, &value, &Source::Env(name.clone()), &mut sources);
        set_path(&mut tree, key, value);
    }

    for o in overrides {
        let Some(kind) = known.get(&o.key) else {
            return Err(Error::UnknownSetting {
                origin: ConfigOrigin::Flag(o.flag.clone()),
                key: o.key.clone(),
                suggestion: closest(known.keys(), &o.key),
            });
        };
        let value = parse_text(*kind, &o.value).map_err(|message| Error::ConfigValue {
            origin: ConfigOrigin::Flag(o.flag.clone()),
            key: o.key.clone(),
            message,
        })?;
        record_subtree(&o.key, &value, &Source::Flag(o.flag.clone()), &mut sources);
        set_path(&mut tree, &o.key, value);
    }

    let mut unknown = Vec::new();
    let mut on_unknown = |path: serde_ignored::Path<'_>| unknown.push(path.to_string());
    let deserializer =
        serde_ignored::Deserializer::new(Value::Table(tree.clone()), &mut on_unknown);
    let config: Config = serde_path_to_error::deserialize(deserializer).map_err(|err| {
        let key = err.path().to_string();
        let message = for_people(err.inner().message().trim());
        let origin = origin_for(&key, &sources, file.as_ref());
        Error::ConfigValue {
            origin,
            key,
            message,
        }
    })?;

    if let Some((key, message)) = out_of_range(&config) {
        let origin = origin_for(&key, &sources, file.as_ref());
        return Err(Error::ConfigValue {
            origin,
            key,
            message,
        });
    }

    // Sections are names too: `[verfication]` is a near miss of `verification`.
    let names: BTreeSet<String> = known
        .keys()
        .flat_map(|k| {
            k.match_indices('.')
                .map(|(i, _)| k[..i].to_string())
                .chain(std::iter::once(k.clone()))
        })
        .collect();
    let mut guarding = Vec::new();
    for key in unknown {
        let meant = closest(names.iter(), &key);
        let suggestion = meant
            .as_ref()
            .map(|s| format!(" (did you mean `{s}`?)"))
            .unwrap_or_default();
        let place = match &file {
            Some(f) => format!("{}: ", f.origin_of(&key, false)),
            None => String::new(),
        };
        let text = format!("{place}unknown key `{key}` is ignored{suggestion}");
        if meant.is_some_and(|m| m == "verification" || m.starts_with("verification.")) {
            guarding.push(text.clone());
        }
        warnings.push(Warning(text));
        sources.retain(|k, _| k != &key && !k.starts_with(&format!("{key}.")));
    }
    warnings.extend(config.advisories().into_iter().map(Warning));

    Ok(Layered {
        config,
        sources,
        tree,
        warnings,
        guarding,
    })
}

/// The longest duration any setting may ask for: a year, in seconds. Past it, the sum with
/// "now" may overflow what the system clock can represent.
pub const MAX_SECONDS: f64 = 31_536_000.0;
/// The largest count any setting may ask for.
pub const MAX_COUNT: f64 = 1_000_000.0;

/// Whether a key names a duration in seconds (the rest of the numbers are counts).
fn is_duration(key: &str) -> bool {
    ["seconds", "timeout", "cooldown", "interval", "delay"]
        .iter()
        .any(|w| key.rsplit('.').next().is_some_and(|leaf| leaf.contains(w)))
}

/// The first number in force that is not finite or lies outside its range: the key, and what
/// is accepted.
fn out_of_range(config: &Config) -> Option<(String, String)> {
    let tree = toml::Value::try_from(config).ok()?;
    let mut found = None;
    walk_numbers(&tree, "", &mut |key, value, shown| {
        if found.is_some() {
            return;
        }
        let (max, what) = if is_duration(key) {
            (
                MAX_SECONDS,
                "a number of seconds from 0 to 31536000 (a year)",
            )
        } else if key.ends_with("max_tokens") {
            (1e12, "a whole number of tokens from 0 to 1000000000000")
        } else {
            (MAX_COUNT, "a number from 0 to 1000000")
        };
        if !value.is_finite() || !(0.0..=max).contains(&value) {
            found = Some((key.to_string(), format!("must be {what}; got {shown}")));
        }
    });
    found
}

fn walk_numbers(value: &toml::Value, key: &str, visit: &mut dyn FnMut(&str, f64, String)) {
    match value {
        toml::Value::Integer(i) => visit(key, *i as f64, i.to_string()),
        toml::Value::Float(f) => visit(key, *f, f.to_string()),
        toml::Value::Table(table) => {
            for (k, v) in table {
                let path = if key.is_empty() {
                    k.clone()
                } else {
                    format!("{key}.{k}")
                };
                walk_numbers(v, &path, visit);
            }
        }
        _ => {}
    }
}

fn origin_for(
    key: &str,
    sources: &BTreeMap<String, Source>,
    file: Option<&FileLayer>,
) -> ConfigOrigin {
    // The nearest key, walking up, that a layer set (itself or a key below it) decides.
    let found = key_and_parents(key).find_map(|probe| {
        sources.get(probe).or_else(|| {
            sources
                .iter()
                .find(|(k, _)| k.starts_with(probe) && k[probe.len()..].starts_with('.'))
                .map(|(_, s)| s)
        })
    });
    match found {
        Some(Source::Env(name)) => return ConfigOrigin::Env(name.clone()),
        Some(Source::Flag(flag)) => return ConfigOrigin::Flag(flag.clone()),
        _ => {}
    }
    match file {
        Some(f) => f.origin_of(key, true),
        None => ConfigOrigin::Flag(key.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::model::BackendName;

    fn env(pairs: &[(&str, &str)]) -> Vec<(OsString, OsString)> {
        pairs
            .iter()
            .map(|(k, v)| (OsString::from(k), OsString::from(v)))
            .collect()
    }

    fn from_file(text: &str) -> Result<Layered> {
        layer(Some((Path::new("/p/autodev.toml"), text)), env(&[]), &[])
    }

    #[test]
    fn no_setting_makes_loading_panic_and_what_loads_is_in_range() {
        let mut known = BTreeMap::new();
        leaves(&defaults_tree(), "", &mut known);
        let keys: Vec<&String> = known.keys().collect();
        let values = [
            "-1",
            "0",
            "1",
            "31536001",
            "1000001",
            "9223372036854775807",
            "-9223372036854775808",
            "nan",
            "inf",
            "-inf",
            "1e308",
            "0.5",
            "-0.0",
            "\"text\"",
            "\"\"",
            "true",
            "[]",
            "[1, \"a\"]",
            "{}",
            "{ x = 1 }",
            "1979-05-27T07:32:00Z",
        ];
        let mut rng = crate::testing::Rng(20261201);
        let mut next = |n: usize| rng.next(n as u64) as usize;
        let (mut files, mut envs) = (0, 0);
        for _ in 0..600 {
            let mut text = String::new();
            let mut used = Vec::new();
            // One or two settings: a file is refused when any one of them is, and a loop of
            // files that are all refused would prove nothing about the rest.
            for _ in 0..1 + next(2) {
                let key = keys[next(keys.len())];
                if used.contains(&key) {
                    continue;
                }
                used.push(key);
                // Half the time a value of the setting's own type, edge values among them.
                let typed: &[&str] = match known[key] {
                    Kind::Bool => &["true", "false"],
                    Kind::Integer => &["-1", "0", "1", "31536001", "9223372036854775807"],
                    Kind::Float => &["0.5", "-0.0", "1e308", "nan", "inf", "0"],
                    Kind::String => &["\"text\"", "\"\""],
                    Kind::Array => &["[]", "[\"a\"]", "[1]"],
                    Kind::Table => &["{}"],
                };
                let value = if next(2) == 0 {
                    typed[next(typed.len())]
                } else {
                    values[next(values.len())]
                };
                text.push_str(&format!("{key} = {value}\n"));
            }
            if let Ok(layered) = from_file(&text) {
                assert_eq!(out_of_range(&layered.config), None, "{text}");
                files += 1;
            }
            let env_key = format!(
                "AUTODEV_{}",
                keys[next(keys.len())].to_uppercase().replace(".", "_")
            );
            let value = values[next(values.len())].trim_matches('"');
            if let Ok(layered) = layer(None, env(&[(&env_key, value)]), &[]) {
                assert_eq!(out_of_range(&layered.config), None, "{env_key}={value}");
                envs += 1;
            }
        }
        // The loop proves something only about the inputs that were accepted.
        eprintln!("accepted: {files} files, {envs} environments of 600");
        assert!(
            files >= 60 && envs >= 60,
            "{files} files, {envs} environments"
        );
    }

    #[test]
    fn defaults_serialize_to_a_table_with_every_section() {
        let tree = defaults_tree();
        for section in [
            "project",
            "backend",
            "run",
            "files",
            "verification",
            "reflection",
            "planning",
            "prompt",
            "snapshot",
            "env_errors",
            "circuit_breaker",
            "git",
            "detach",
        ] {
            assert!(tree.contains_key(section), "missing section {section}");
        }
    }

    #[test]
    fn env_names_are_unambiguous() {
        let mut known = BTreeMap::new();
        leaves(&defaults_tree(), "", &mut known);
        let mut names: Vec<String> = known
            .keys()
            .map(|k| k.replace('.', "_").to_ascii_uppercase())
            .collect();
        let before = names.len();
        names.sort();
        names.dedup();
        assert_eq!(before, names.len());
    }

    #[test]
    fn file_values_win_over_defaults_and_record_their_line() {
        let layered = from_file("[run]\n\nmax_retries = 7\n").unwrap();
        assert_eq!(layered.config.run.max_retries, 7);
        assert_eq!(layered.config.run.max_tasks, 999);
        assert_eq!(
            layered.sources.get("run.max_retries"),
            Some(&Source::File { line: 3 })
        );
        assert!(!layered.sources.contains_key("run.max_tasks"));
    }

    #[test]
    fn env_wins_over_file_and_flags_win_over_env() {
        let text = "[run]\nmax_retries = 7\n";
        let layered = layer(
            Some((Path::new("/p/autodev.toml"), text)),
            env(&[("AUTODEV_RUN_MAX_RETRIES", "9")]),
            &[],
        )
        .unwrap();
        assert_eq!(layered.config.run.max_retries, 9);
        let flag = Override::parse_assignment("run.max_retries=11").unwrap();
        let layered = layer(
            Some((Path::new("/p/autodev.toml"), text)),
            env(&[("AUTODEV_RUN_MAX_RETRIES", "9")]),
            &[flag],
        )
        .unwrap();
        assert_eq!(layered.config.run.max_retries, 11);
        assert_eq!(
            layered.sources.get("run.max_retries"),
            Some(&Source::Flag("--set run.max_retries=11".into()))
        );
    }

    #[test]
    fn env_lists_and_tables_are_parsed_not_kept_as_strings() {
        let layered = layer(
            None,
            env(&[
                ("AUTODEV_SNAPSHOT_IGNORE_DIRS", "a, b,,c"),
                ("AUTODEV_SNAPSHOT_WATCH_DIRS", r#"["src", "lib"]"#),
                (
                    "AUTODEV_VERIFICATION_VALIDATE_ENVIRONMENT",
                    r#"{"CI": "1"}"#,
                ),
                ("AUTODEV_BACKEND_CLAUDE_MODEL", "opus"),
                ("AUTODEV_GIT_AUTO_COMMIT", "off"),
            ]),
            &[],
        )
        .unwrap();
        let c = &layered.config;
        assert_eq!(c.snapshot.ignore_dirs, vec!["a", "b", "c"]);
        assert_eq!(c.snapshot.watch_dirs, vec!["src", "lib"]);
        assert_eq!(c.verification.validate_environment["CI"], "1");
        assert_eq!(c.backend.claude.model, "opus");
        assert!(!c.git.auto_commit);
    }

    #[test]
    fn type_errors_name_file_line_column_and_key() {
        let err = from_file("[run]\nmax_retries = \"3\"\n").unwrap_err();
        let text = err.to_string();
        assert!(
            text.starts_with("/p/autodev.toml:2:15: `run.max_retries`:"),
            "{text}"
        );
        assert!(text.contains("string"), "{text}");
        assert!(
            text.ends_with("expected a whole number from 0 to 4294967295"),
            "no Rust type names in a message for people: {text}"
        );
    }

    #[test]
    fn bad_enum_value_is_an_error_naming_the_choices() {
        let err = from_file("[backend]\ndefault = \"bogus\"\n").unwrap_err();
        let text = err.to_string();
        assert!(text.contains("`backend.default`"), "{text}");
        assert!(text.contains("claude"), "{text}");
        assert!(text.contains(":2:11:"), "{text}");
    }

    #[test]
    fn list_element_errors_point_at_the_element() {
        let err = from_file("[snapshot]\nwatch_dirs = [\"a\",\n  3]\n").unwrap_err();
        let text = err.to_string();
        assert!(text.contains(":3:3:"), "{text}");
        assert!(text.contains("snapshot.watch_dirs[1]"), "{text}");
    }

    #[test]
    fn env_errors_name_the_variable() {
        let err = layer(None, env(&[("AUTODEV_RUN_MAX_TASKS", "lots")]), &[]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "environment variable AUTODEV_RUN_MAX_TASKS: `run.max_tasks`: expected a whole number, got `lots`"
        );
        let err = layer(None, env(&[("AUTODEV_RUN_MAX_TASKS", "-4")]), &[]).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("environment variable AUTODEV_RUN_MAX_TASKS")
        );
    }

    #[test]
    fn syntax_errors_carry_line_and_column() {
        let err = from_file("[run]\nmax_retries = = 3\n").unwrap_err();
        match err {
            Error::ConfigSyntax { line, .. } => assert_eq!(line, 2),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn unknown_keys_warn_with_position_and_suggestion() {
        let layered = from_file("[run]\nmax_retires = 5\n[bogus]\nx = 1\n").unwrap();
        let warnings: Vec<&str> = layered.warnings.iter().map(|w| w.0.as_str()).collect();
        assert_eq!(warnings.len(), 2, "{warnings:?}");
        assert!(warnings.iter().any(|w| w.contains("/p/autodev.toml:2:1")
            && w.contains("`run.max_retires`")
            && w.contains("did you mean `run.max_retries`")));
        assert!(warnings.iter().any(|w| w.contains("`bogus`")));
        assert_eq!(layered.config.run.max_retries, 3);
    }

    #[test]
    fn unknown_set_key_is_an_error() {
        let o = Override::parse_assignment("run.max_retrys=3").unwrap();
        let err = layer(None, env(&[]), &[o]).unwrap_err();
        assert!(
            err.to_string().contains("did you mean `run.max_retries`"),
            "{err}"
        );
    }

    #[test]
    fn unknown_env_var_warns() {
        let layered = layer(None, env(&[("AUTODEV_RUN_MAX_RETRYS", "3")]), &[]).unwrap();
        assert!(layered.warnings[0].0.contains("AUTODEV_RUN_MAX_RETRIES"));
    }

    #[test]
    fn legacy_gate_section_is_read_as_verification() {
        let layered = from_file("[gate]\nmin_changed_files = 0\n").unwrap();
        assert_eq!(layered.config.verification.min_changed_files, 0);
        assert!(layered.warnings.is_empty());
    }

    #[test]
    fn backend_default_parses() {
        let layered = from_file("[backend]\ndefault = \"gemini\"\n").unwrap();
        assert_eq!(layered.config.backend.default, BackendName::Gemini);
    }

    #[test]
    fn line_col_counts_characters() {
        assert_eq!(line_col("ab\ncd", 4), (2, 2));
        assert_eq!(line_col("é=1", 2), (1, 2));
    }
}
