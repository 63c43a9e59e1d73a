//! Reading skills: `SKILL.md` front matter (the small YAML subset skills use), the catalog of a
//! project's `.skills/` folder or of the bundled skills, and ranking skills against a need.

use std::path::{Path, PathBuf};

use super::BUNDLED;

/// One skill as its `SKILL.md` describes it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Skill {
    /// The folder name.
    pub dir: String,
    pub name: String,
    pub description: String,
    pub category: String,
    pub triggers: Vec<String>,
}

/// The front matter (between a leading `---` line and the next) and the body after it.
fn split_front_matter(text: &str) -> (Vec<&str>, &str) {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut lines = text.split_inclusive('\n');
    if lines.next().map(str::trim_end) != Some("---") {
        return (Vec::new(), text);
    }
    let mut front = Vec::new();
    let mut consumed = text.split_inclusive('\n').next().map_or(0, str::len);
    for line in lines {
        consumed += line.len();
        if line.trim_end() == "---" {
            return (front, &text[consumed..]);
        }
        front.push(line.trim_end_matches(['\n', '\r']));
    }
    // No closing line: not front matter after all.
    (Vec::new(), text)
}

fn indent(line: &str) -> usize {
    line.len() - line.trim_start().len()
}

fn unquote(value: &str) -> String {
    let v = value.trim();
    let quoted = v.len() >= 2
        && ((v.starts_with('"') && v.ends_with('"')) || (v.starts_with('\'') && v.ends_with('\'')));
    if quoted {
        v[1..v.len() - 1].to_string()
    } else {
        v.to_string()
    }
}

/// The value of `key` among `lines` at `level` indentation: a plain or quoted scalar, or a
/// block scalar (`>`, `|`, with `-`/`+`) whose more-indented lines are joined with spaces.
fn scalar(lines: &[&str], key: &str, level: usize) -> Option<String> {
    let (at, rest) = find_key(lines, key, level)?;
    let rest = rest.trim();
    if rest.starts_with('>') || rest.starts_with('|') {
        let body: Vec<&str> = lines[at + 1..]
            .iter()
            .take_while(|l| l.trim().is_empty() || indent(l) > level)
            .map(|l| l.trim())
            .filter(|l| !l.is_empty())
            .collect();
        return Some(body.join(" "));
    }
    Some(unquote(rest))
}

/// The line index of `key:` at exactly `level` indentation, and the text after the colon.
fn find_key<'a>(lines: &[&'a str], key: &str, level: usize) -> Option<(usize, &'a str)> {
    lines.iter().enumerate().find_map(|(i, line)| {
        if indent(line) != level {
            return None;
        }
        let rest = line.trim_start().strip_prefix(key)?.strip_prefix(':')?;
        Some((i, rest))
    })
}

/// A list value: inline `[a, b]`, a block of `- item` lines, or a single scalar.
fn list(lines: &[&str], key: &str) -> Vec<String> {
    let Some((at, rest)) = find_key(lines, key, 0) else {
        return Vec::new();
    };
    let rest = rest.trim();
    if let Some(inner) = rest.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
        return inner
            .split(',')
            .map(unquote)
            .filter(|s| !s.is_empty())
            .collect();
    }
    if !rest.is_empty() {
        return vec![unquote(rest)];
    }
    lines[at + 1..]
        .iter()
        .take_while(|l| l.trim().is_empty() || indent(l) > 0 || l.trim_start().starts_with("- "))
        .filter_map(|l| l.trim().strip_prefix("- ").map(unquote))
        .filter(|s| !s.is_empty())
        .collect()
}

/// Reads a `SKILL.md`. Missing fields fall back: the name to the folder name, the category to
/// `metadata.category`, the description to the first line of the body that is not a heading.
pub(super) fn parse(dir: &str, text: &str) -> Skill {
    let (front, body) = split_front_matter(text);
    let name = scalar(&front, "name", 0).filter(|n| !n.is_empty());
    let description = scalar(&front, "description", 0)
        .filter(|d| !d.is_empty())
        .or_else(|| {
            body.lines()
                .map(str::trim)
                .find(|l| !l.is_empty() && !l.starts_with('#') && *l != "---")
                .map(str::to_string)
        })
        .unwrap_or_default();
    let category = scalar(&front, "category", 0)
        .filter(|c| !c.is_empty())
        .or_else(|| {
            let (at, _) = find_key(&front, "metadata", 0)?;
            let nested: Vec<&str> = front[at + 1..]
                .iter()
                .copied()
                .take_while(|l| l.trim().is_empty() || indent(l) > 0)
                .collect();
            let level = nested
                .iter()
                .find(|l| !l.trim().is_empty())
                .map(|l| indent(l))?;
            scalar(&nested, "category", level)
        })
        .unwrap_or_default();
    Skill {
        dir: dir.to_string(),
        name: name.unwrap_or_else(|| dir.to_string()),
        description,
        category,
        triggers: list(&front, "triggers"),
    }
}

/// Where a catalog's skills come from.
#[derive(Debug, Clone, PartialEq)]
pub enum Origin {
    /// A `.skills` folder on disk.
    Folder(PathBuf),
    /// The skills built into autodev.
    Bundled,
}

/// The skills of one source, sorted by folder name.
#[derive(Debug, Clone)]
pub struct Catalog {
    pub origin: Origin,
    pub skills: Vec<Skill>,
}

impl Catalog {
    /// The nearest `.skills` folder in `start` or a parent; the bundled skills when there is none.
    pub fn discover(start: &Path) -> Catalog {
        match start
            .ancestors()
            .map(|a| a.join(".skills"))
            .find(|p| p.is_dir())
        {
            Some(folder) => Catalog::folder(&folder),
            None => Catalog::bundled(),
        }
    }

    /// Every direct subfolder of `folder` that holds a `SKILL.md` (links followed).
    pub fn folder(folder: &Path) -> Catalog {
        let mut skills: Vec<Skill> = std::fs::read_dir(folder)
            .into_iter()
            .flatten()
            .filter_map(std::result::Result::ok)
            .filter_map(|entry| {
                let dir = entry.file_name().to_string_lossy().into_owned();
                let text = std::fs::read_to_string(entry.path().join("SKILL.md")).ok()?;
                Some(parse(&dir, &text))
            })
            .collect();
        skills.sort_by(|a, b| a.dir.cmp(&b.dir));
        Catalog {
            origin: Origin::Folder(folder.to_path_buf()),
            skills,
        }
    }

    pub fn bundled() -> Catalog {
        let mut skills: Vec<Skill> = BUNDLED
            .dirs()
            .filter_map(|dir| {
                let name = dir.path().to_string_lossy().into_owned();
                let text = dir.get_file(dir.path().join("SKILL.md"))?.contents_utf8()?;
                Some(parse(&name, text))
            })
            .collect();
        skills.sort_by(|a, b| a.dir.cmp(&b.dir));
        Catalog {
            origin: Origin::Bundled,
            skills,
        }
    }

    /// How the source is named in messages.
    pub fn label(&self) -> String {
        match &self.origin {
            Origin::Folder(path) => path.display().to_string(),
            Origin::Bundled => "the skills built into autodev".to_string(),
        }
    }

    /// Up to `limit` skills that match `query`, best first (ties by folder name).
    pub fn recommend(&self, query: &str, limit: usize) -> Vec<(&Skill, u32)> {
        let query = query.trim().to_lowercase();
        let wanted = tokens(&query);
        let mut ranked: Vec<(&Skill, u32)> = self
            .skills
            .iter()
            .map(|skill| (skill, score(skill, &query, &wanted)))
            .filter(|(_, score)| *score > 0)
            .collect();
        ranked.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.dir.cmp(&b.0.dir)));
        ranked.truncate(limit);
        ranked
    }
}

/// Lower-case words: a letter or digit, then letters, digits, `_` and `-`.
fn tokens(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut current = String::new();
    for c in text.to_lowercase().chars() {
        let inner = c.is_ascii_alphanumeric() || ((c == '_' || c == '-') && !current.is_empty());
        if inner {
            current.push(c);
        } else if !current.is_empty() {
            out.push(std::mem::take(&mut current));
        }
    }
    if !current.is_empty() {
        out.push(current);
    }
    out.sort();
    out.dedup();
    out
}

fn shared(a: &[String], b: &[String]) -> u32 {
    a.iter().filter(|t| b.binary_search(t).is_ok()).count() as u32
}

/// How well `skill` fits `query` (lower-cased, with its `wanted` tokens); 0 is no match.
///
/// Words shared with the whole description count 10 each and words shared with the triggers
/// 15 more; naming the skill in the query, the query appearing verbatim in the skill, or the
/// skill's category appearing in the query add fixed bonuses.
fn score(skill: &Skill, query: &str, wanted: &[String]) -> u32 {
    let haystack = format!(
        "{} {} {} {} {}",
        skill.name,
        skill.dir,
        skill.description,
        skill.category,
        skill.triggers.join(" ")
    )
    .to_lowercase();
    let mut score = 10 * shared(wanted, &tokens(&haystack));
    let name = skill.name.to_lowercase();
    if (!name.is_empty() && query.contains(&name)) || query.contains(&skill.dir.to_lowercase()) {
        score += 25;
    }
    if !query.is_empty() && haystack.contains(query) {
        score += 15;
    }
    let category = skill.category.to_lowercase();
    if !category.is_empty() && query.contains(&category) {
        score += 12;
    }
    if !skill.triggers.is_empty() {
        let triggers = skill.triggers.join(" ").to_lowercase();
        score += 15 * shared(wanted, &tokens(&triggers));
        if skill
            .triggers
            .iter()
            .any(|t| t.to_lowercase().contains(query))
        {
            score += 20;
        }
    }
    score
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn front_matter_block_scalars_lists_and_fallbacks() {
        let text = "---\nname: \"demo\"\ndescription: >-\n  Folded over\n  two lines.\ncategory: 'testing'\ntriggers:\n  - run tests\n  - \"check\"\nother: x\n---\n# Title\n";
        let skill = parse("folder", text);
        assert_eq!(skill.name, "demo");
        assert_eq!(skill.description, "Folded over two lines.");
        assert_eq!(skill.category, "testing");
        assert_eq!(skill.triggers, vec!["run tests", "check"]);

        let literal = "---\ndescription: |\n  Kept\n  together\ntriggers: [a, 'b c']\nmetadata:\n  category: nested\n---\nbody\n";
        let skill = parse("lit", literal);
        assert_eq!(skill.name, "lit", "the folder name stands in");
        assert_eq!(skill.description, "Kept together");
        assert_eq!(skill.triggers, vec!["a", "b c"]);
        assert_eq!(skill.category, "nested");

        let bare = "# Heading\n\nFirst real line.\n";
        assert_eq!(parse("bare", bare).description, "First real line.");
        let unclosed = "---\nname: x\nno closing line\n";
        assert_eq!(parse("u", unclosed).name, "u");
    }

    #[test]
    fn recommendations_rank_the_bundled_skills() {
        let catalog = Catalog::bundled();
        let table = [
            ("create a new skill", "skill-creator"),
            ("write a spec from a vague intent", "coca-spec"),
            ("break a spec down into tasks", "spec-driven-develop"),
            ("which skill should I use", "find-skills"),
            (
                "verification failed in an unattended attempt",
                "autodev-runtime",
            ),
        ];
        for (query, best) in table {
            let ranked = catalog.recommend(query, 5);
            assert_eq!(
                ranked.first().map(|(s, _)| s.dir.as_str()),
                Some(best),
                "{query}: {:?}",
                ranked.iter().map(|(s, n)| (&s.dir, n)).collect::<Vec<_>>()
            );
        }
        assert!(catalog.recommend("zzqx", 5).is_empty());
        assert_eq!(catalog.recommend("skill", 2).len(), 2);
    }
}
