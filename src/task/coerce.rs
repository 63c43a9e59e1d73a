//! Lenient reading of JSON scalars written by people and agents into `task.json`.
//!
//! `task.json` is edited by hand and by models, so values arrive as `"yes"`, `1`, `"3"` or
//! `null`. These functions turn them into the typed values the task model needs, by the rules
//! documented in `docs/task-json.md`. Nothing here fails: bad values fall back to defaults.

use serde_json::Value;

const TRUE_WORDS: [&str; 5] = ["1", "true", "yes", "y", "on"];
const FALSE_WORDS: [&str; 5] = ["0", "false", "no", "n", "off"];

/// A boolean word, or `None` when the text is not one.
fn bool_word(text: &str) -> Option<bool> {
    let word = text.trim().to_ascii_lowercase();
    if TRUE_WORDS.contains(&word.as_str()) {
        Some(true)
    } else if FALSE_WORDS.contains(&word.as_str()) {
        Some(false)
    } else {
        None
    }
}

/// Whether `text` is one of the words read as a boolean (`yes`, `off`, …).
pub fn is_bool_word(text: &str) -> bool {
    bool_word(text).is_some()
}

/// Truthiness for `passes` and `blocked`: unknown words and `null` are false.
pub fn truthy(value: Option<&Value>) -> bool {
    match value {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(Value::Number(n)) => n.as_f64().is_some_and(|f| f != 0.0),
        Some(Value::String(s)) => bool_word(s).unwrap_or(false),
        Some(Value::Array(a)) => !a.is_empty(),
        Some(Value::Object(o)) => !o.is_empty(),
    }
}

/// A boolean setting: unknown values keep the default.
pub fn bool_or(value: Option<&Value>, default: bool) -> bool {
    match value {
        Some(Value::Bool(b)) => *b,
        Some(Value::Number(n)) => n.as_f64().map_or(default, |f| f != 0.0),
        Some(Value::String(s)) => bool_word(s).unwrap_or(default),
        _ => default,
    }
}

/// Text of a scalar; `null`, arrays and objects give an empty string.
pub fn text(value: Option<&Value>) -> String {
    match value {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        Some(Value::Bool(b)) => b.to_string(),
        _ => String::new(),
    }
}

/// A list of trimmed, non-empty strings; scalars inside are stringified, anything else dropped.
/// A single text is read as a list of that one item (it is written back as it was written).
pub fn string_list(value: Option<&Value>) -> Vec<String> {
    match value {
        Some(Value::String(s)) => {
            let s = s.trim();
            if s.is_empty() {
                Vec::new()
            } else {
                vec![s.to_string()]
            }
        }
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| text(Some(item)).trim().to_string())
            .filter(|s| !s.is_empty())
            .collect(),
        _ => Vec::new(),
    }
}

/// The objects of a list, in order; other items (and a value that is not a list) give nothing.
pub fn objects(value: Value) -> Vec<serde_json::Map<String, Value>> {
    match value {
        Value::Array(items) => items
            .into_iter()
            .filter_map(|item| match item {
                Value::Object(map) => Some(map),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// A whole number, from a JSON integer, an integral float or numeric text.
pub fn integer(value: Option<&Value>) -> Option<i64> {
    match value? {
        Value::Number(n) => n
            .as_i64()
            .or_else(|| n.as_f64().filter(|f| f.fract() == 0.0).map(|f| f as i64)),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// A positive whole number, or the default.
pub fn positive_or(value: Option<&Value>, default: u32) -> u32 {
    integer(value)
        .filter(|n| *n > 0)
        .and_then(|n| u32::try_from(n).ok())
        .unwrap_or(default)
}

/// A non-negative whole number, or zero.
pub fn count(value: Option<&Value>) -> u32 {
    integer(value)
        .and_then(|n| u32::try_from(n).ok())
        .unwrap_or(0)
}

/// A finite number, from JSON or numeric text.
pub fn number(value: Option<&Value>) -> Option<f64> {
    let f = match value? {
        Value::Number(n) => n.as_f64()?,
        Value::String(s) => s.trim().parse().ok()?,
        _ => return None,
    };
    f.is_finite().then_some(f)
}

/// A task's own budget in USD (`max_cost_usd`), as `task check` accepts it; `None` for none
/// (absent, 0 or less, not an amount).
pub fn budget(value: Option<&Value>) -> Option<f64> {
    number(value).filter(|c| *c > 0.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn truthiness_table() {
        let cases = [
            (json!(true), true),
            (json!(false), false),
            (json!(null), false),
            (json!(1), true),
            (json!(0), false),
            (json!(0.0), false),
            (json!("yes"), true),
            (json!(" TRUE "), true),
            (json!("Y"), true),
            (json!("on"), true),
            (json!("off"), false),
            (json!("no"), false),
            (json!("maybe"), false),
            (json!(""), false),
            (json!([]), false),
            (json!([0]), true),
        ];
        for (value, expected) in cases {
            assert_eq!(truthy(Some(&value)), expected, "{value}");
        }
        assert!(!truthy(None));
    }

    #[test]
    fn bool_or_keeps_default_on_garbage() {
        assert!(bool_or(Some(&json!("maybe")), true));
        assert!(!bool_or(Some(&json!("maybe")), false));
        assert!(!bool_or(Some(&json!("no")), true));
        assert!(bool_or(None, true));
    }

    #[test]
    fn string_lists_trim_and_drop_blanks() {
        let v = json!([" a ", "", 3, null, {"x": 1}, "  ", "b"]);
        assert_eq!(string_list(Some(&v)), vec!["a", "3", "b"]);
        assert_eq!(string_list(Some(&json!(" a "))), vec!["a"]);
        assert!(string_list(Some(&json!("  "))).is_empty());
    }

    #[test]
    fn positive_numbers_fall_back() {
        assert_eq!(positive_or(Some(&json!(5)), 3), 5);
        assert_eq!(positive_or(Some(&json!("7")), 3), 7);
        assert_eq!(positive_or(Some(&json!(4.0)), 3), 4);
        assert_eq!(positive_or(Some(&json!(0)), 3), 3);
        assert_eq!(positive_or(Some(&json!(-2)), 3), 3);
        assert_eq!(positive_or(Some(&json!(2.5)), 3), 3);
        assert_eq!(positive_or(Some(&json!("many")), 3), 3);
        assert_eq!(count(Some(&json!(-1))), 0);
        assert_eq!(count(Some(&json!("2"))), 2);
    }

    #[test]
    fn numbers_parse_text_and_reject_garbage() {
        assert_eq!(number(Some(&json!("1.5"))), Some(1.5));
        assert_eq!(number(Some(&json!(2))), Some(2.0));
        assert_eq!(number(Some(&json!("x"))), None);
        assert_eq!(number(Some(&json!("NaN"))), None);
    }
}
