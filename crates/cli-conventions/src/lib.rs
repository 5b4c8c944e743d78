//! What the `bertscore` and `bertscore-pipeline` commands do the same way: `--version` ([`version`]) and the
//! `completions SHELL` and `man` subcommands ([`generated`]).

pub mod generated;
pub mod version;

pub use generated::{CompletionsArgs, completions, man};
pub use version::{COMMIT, VERSION, long_version};
