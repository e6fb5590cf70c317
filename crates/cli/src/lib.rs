//! The `tokenmeter` command: the native shell beside the page.

use std::process::ExitCode;

pub fn main() -> ExitCode {
    ExitCode::SUCCESS
}
