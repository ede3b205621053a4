//! The statement layer's text side: splitting scripts, variables, and the token-level
//! extensions stockroom adds to DataFusion's SQL.

pub mod command;
pub mod quote;
pub mod rewrite;
pub mod scan;
pub mod split;
pub mod tokens;
pub mod vars;
