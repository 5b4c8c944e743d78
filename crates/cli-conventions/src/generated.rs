//! `completions SHELL` and `man`: shell completions (clap_complete) and a roff man page (clap_mangen), generated
//! at run time from a command's clap definitions, so they never disagree with its `--help`. Both print on stdout.

use std::io::Write;

use clap::Args;
use clap_complete::Shell;

/// The arguments of a `completions` subcommand.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to complete for
    #[arg(value_enum)]
    pub shell: Shell,
}

/// Writes `command`'s completion script for `shell` to stdout, e.g.
/// `bertscore completions bash > ~/.local/share/bash-completion/completions/bertscore`.
pub fn completions(shell: Shell, mut command: clap::Command) -> std::io::Result<()> {
    let name = command.get_name().to_string();
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut command, name, &mut script);
    print(&script)
}

/// Writes `command`'s man page (section 1) to stdout, e.g. `bertscore man > ~/.local/share/man/man1/bertscore.1`.
/// Its VERSION section is the version alone (`--version`'s commit and kernel lines describe a build and a CPU).
pub fn man(command: clap::Command) -> std::io::Result<()> {
    let mut page = Vec::new();
    clap_mangen::Man::new(command.long_version(None::<&'static str>))
        .render(&mut page)
        .map_err(|e| std::io::Error::new(e.kind(), format!("cannot render the man page: {e}")))?;
    print(&page)
}

fn print(bytes: &[u8]) -> std::io::Result<()> {
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(bytes)
        .and_then(|()| stdout.flush())
        .map_err(|e| std::io::Error::new(e.kind(), format!("cannot write to stdout: {e}")))
}
