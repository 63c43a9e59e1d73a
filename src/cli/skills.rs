//! `autodev skills list|recommend|doctor`: the skill catalog and a check of the layout.

use clap::Subcommand;

use super::Context;
use crate::error::{Error, Exit, Result};
use crate::skills::{self, Catalog, Level, Tool};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Sub,
}

#[derive(Debug, Subcommand)]
enum Sub {
    /// List the skills of the nearest .skills folder (or the built-in ones)
    List,
    /// Rank the skills against a need, best first
    Recommend {
        /// What you need, in plain words
        query: Vec<String>,
        /// How many to show
        #[arg(long, default_value_t = 5)]
        limit: usize,
    },
    /// Check the project's skills layout for backend.default
    Doctor,
}

pub fn run(context: &Context, args: Args) -> Result<Exit> {
    match args.command {
        Sub::List => {
            let catalog = Catalog::discover(&context.cwd);
            if catalog.skills.is_empty() {
                return Err(Error::Setup {
                    message: format!("no skills found in {}", catalog.label()),
                    hint: "a skill is a folder with a SKILL.md; `autodev init` writes the default ones".into(),
                });
            }
            let mut out = format!("Skills from {}:\n", catalog.label());
            for skill in &catalog.skills {
                let category = if skill.category.is_empty() {
                    String::new()
                } else {
                    format!(" [{}]", skill.category)
                };
                let description = if skill.description.is_empty() {
                    "(no description)"
                } else {
                    &skill.description
                };
                out.push_str(&format!("- {}{category}: {description}\n", skill.dir));
            }
            context.print(&out)?;
            Ok(Exit::Success)
        }
        Sub::Recommend { query, limit } => {
            let query = query.join(" ");
            if query.trim().is_empty() {
                return Err(Error::Setup {
                    message: "skills recommend needs a query".into(),
                    hint: "say what you need, e.g. `autodev skills recommend \"write a spec\"`"
                        .into(),
                });
            }
            let catalog = Catalog::discover(&context.cwd);
            let ranked = catalog.recommend(&query, limit);
            let mut out = String::new();
            if ranked.is_empty() {
                out.push_str(&format!(
                    "No skill in {} matches: {query}\n",
                    catalog.label()
                ));
            } else {
                out.push_str(&format!("Skills from {} for: {query}\n", catalog.label()));
                for (skill, _) in ranked {
                    out.push_str(&format!("- {}: {}\n", skill.dir, skill.description));
                }
            }
            context.print(&out)?;
            Ok(Exit::Success)
        }
        Sub::Doctor => {
            let settings = context.settings()?;
            let tool = Tool::of_backend(settings.config.backend.default)?;
            let root = &settings.paths.root;
            let checks = skills::doctor(root, &settings.file, tool);
            let mut out = format!(
                "Skills doctor for {} (backend.default={})\n",
                root.display(),
                tool.name()
            );
            let count = |level| checks.iter().filter(|c| c.level == level).count();
            for check in &checks {
                out.push_str(&format!(
                    "[{}] {}: {}\n",
                    check.level.as_str(),
                    check.label,
                    check.detail
                ));
                if let Some(fix) = &check.fix {
                    out.push_str(&format!("       fix: {fix}\n"));
                }
            }
            let errors = count(Level::Error);
            out.push_str(&format!(
                "Summary: {} ok, {} warning(s), {errors} error(s)\n",
                count(Level::Ok),
                count(Level::Warn)
            ));
            context.print(&out)?;
            Ok(if errors > 0 {
                Exit::Failure
            } else {
                Exit::Success
            })
        }
    }
}
