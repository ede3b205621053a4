//! `pg_catalog` for each connection's session, as datafusion-pg-catalog's
//! `setup_pg_catalog` installs it, but with the static tables (pg_type, pg_proc, … parsed
//! from embedded Arrow files) built once per server: building them per connection cost
//! 0.3-0.4 s of a debug build's connection setup.

use std::sync::Arc;

use datafusion::execution::session_state::SessionStateBuilder;
use datafusion::prelude::SessionContext;
use datafusion_postgres::datafusion_pg_catalog::pg_catalog::{
    self as pg, PgCatalogSchemaProvider, PgCatalogStaticTables, array_bounds_udf,
    context::EmptyContextProvider, format_type, generate_series_arg_coercion, has_privilege_udf,
    oid_type_planner, pg_get_expr_udf, quote_ident_udf,
};

use crate::error::{Error, Result};
use crate::session::CATALOG;

pub struct PgCatalog {
    static_tables: Arc<PgCatalogStaticTables>,
}

impl PgCatalog {
    pub fn new() -> Result<Self> {
        Ok(Self {
            static_tables: Arc::new(PgCatalogStaticTables::try_new()?),
        })
    }

    /// Registers the `pg_catalog` schema and the Postgres functions clients call.
    pub fn install(&self, ctx: &SessionContext) -> Result<()> {
        let schema = Arc::new(PgCatalogSchemaProvider::try_new(
            ctx.state().catalog_list().clone(),
            self.static_tables.clone(),
            EmptyContextProvider,
        )?);
        ctx.catalog(CATALOG)
            .ok_or(Error::Internal("the session's default catalog is missing"))?
            .register_schema("pg_catalog", schema)?;
        ctx.register_udf(pg::create_current_database_udf(CATALOG));
        ctx.register_udf(pg::create_current_schema_udf());
        ctx.register_udf(pg::create_current_schemas_udf());
        ctx.register_udf(pg::create_pg_get_userbyid_udf());
        for name in [
            "has_table_privilege",
            "has_schema_privilege",
            "has_database_privilege",
            "has_any_column_privilege",
        ] {
            ctx.register_udf(has_privilege_udf::create_has_privilege_udf(name));
        }
        ctx.register_udf(pg::create_pg_table_is_visible());
        ctx.register_udf(format_type::create_format_type_udf());
        ctx.register_udf(pg::create_session_user_udf());
        ctx.register_udtf(
            "pg_get_keywords",
            self.static_tables.pg_get_keywords.clone(),
        );
        ctx.register_udf(pg_get_expr_udf::create_pg_get_expr_udf());
        ctx.register_udf(pg::create_pg_get_partkeydef_udf());
        ctx.register_udf(pg::create_pg_relation_is_publishable_udf());
        ctx.register_udf(pg::create_pg_get_statisticsobjdef_columns_udf());
        ctx.register_udf(pg::create_pg_encoding_to_char_udf());
        ctx.register_udf(pg::create_pg_backend_pid_udf());
        ctx.register_udf(pg::create_pg_relation_size_udf());
        ctx.register_udf(pg::create_pg_total_relation_size_udf());
        ctx.register_udf(pg::create_pg_stat_get_numscans());
        ctx.register_udf(pg::create_pg_get_constraintdef());
        ctx.register_udf(pg::create_pg_get_partition_ancestors_udf());
        ctx.register_udf(quote_ident_udf::create_quote_ident_udf());
        ctx.register_udf(quote_ident_udf::create_parse_ident_udf());
        ctx.register_udf(array_bounds_udf::create_array_upper_udf());
        ctx.register_udf(array_bounds_udf::create_array_lower_udf());
        // `regclass`, `regproc`, … as type names (the rewriter resolves `'x'::regclass`).
        let state = ctx.state_ref();
        let existing = state.read().clone();
        *state.write() = SessionStateBuilder::new_from_existing(existing)
            .with_type_planner(Arc::new(oid_type_planner::PgOidTypePlanner))
            .build();
        generate_series_arg_coercion::CoerceIntArgsToBigInt::widen(ctx);
        Ok(())
    }
}
