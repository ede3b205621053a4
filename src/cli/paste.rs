//! Pasting a script into the shell.
//!
//! A bracketed paste (`ESC [200~ … ESC [201~`, what terminals send once the shell turns the mode
//! on) is normally inserted into the line editor as one edit, so a pasted script only ran after
//! an extra Enter, and then as one buffer. psql and duckdb instead run what was pasted line by
//! line, as if typed: that is what these key bindings do. The paste markers become no-ops, so
//! the pasted characters reach the editor as keys and every pasted newline submits its line;
//! inside a paste a Tab is a literal tab, not a completion request (indented SQL stays intact),
//! and so is a Tab with no word before it (indentation in a plain, unbracketed paste).
//! The bytes after a submitted line stay in rustyline's read buffer (its `buffer-redux`
//! feature) for the next `readline`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use rustyline::{
    Cmd, ConditionalEventHandler, Editor, Event, EventContext, EventHandler, KeyCode, KeyEvent,
    Modifiers, RepeatCount,
};

/// What a paste marker or a Tab does, given whether a bracketed paste is under way.
struct PasteKeys {
    key: KeyCode,
    in_paste: Arc<AtomicBool>,
}

impl ConditionalEventHandler for PasteKeys {
    fn handle(&self, _: &Event, _: RepeatCount, _: bool, ctx: &EventContext) -> Option<Cmd> {
        match self.key {
            KeyCode::BracketedPasteStart => {
                self.in_paste.store(true, Ordering::Relaxed);
                Some(Cmd::Noop)
            }
            KeyCode::BracketedPasteEnd => {
                self.in_paste.store(false, Ordering::Relaxed);
                Some(Cmd::Noop)
            }
            // A Tab completes the word before the cursor (`None`: the default binding); with
            // no word there is nothing to complete, so it is indentation (also what a Tab in a
            // plain, unbracketed paste usually is).
            _ => {
                let before = ctx.line().get(..ctx.pos()).unwrap_or("");
                let no_word = before.chars().last().is_none_or(char::is_whitespace);
                (self.in_paste.load(Ordering::Relaxed) || no_word)
                    .then(|| Cmd::Insert(1, "\t".to_string()))
            }
        }
    }
}

/// Binds the paste markers and Tab on `editor` (see the module doc).
pub fn bind<H: rustyline::Helper, I: rustyline::history::History>(editor: &mut Editor<H, I>) {
    let in_paste = Arc::new(AtomicBool::new(false));
    for key in [
        KeyCode::BracketedPasteStart,
        KeyCode::BracketedPasteEnd,
        KeyCode::Tab,
    ] {
        let handler = PasteKeys {
            key,
            in_paste: in_paste.clone(),
        };
        editor.bind_sequence(
            KeyEvent(key, Modifiers::NONE),
            EventHandler::Conditional(Box::new(handler)),
        );
    }
}
