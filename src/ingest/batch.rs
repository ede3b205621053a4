//! Accumulates raw rows into Arrow batches of [`super::raw_schema`].

use std::sync::Arc;

use datafusion::arrow::array::{
    ArrayRef, BooleanBuilder, Int64Builder, StringBuilder, StringViewArray, StringViewBuilder,
    make_view,
};
use datafusion::arrow::buffer::{Buffer, ScalarBuffer};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;

use crate::error::Error;

/// A batch is cut once its `record` texts reach this many bytes: every string column of a batch
/// then stays far below the 2 GiB limit of i32 offsets (a record is at most 64 MiB and a field
/// value is never longer than its record).
const MAX_BATCH_BYTES: usize = 512 << 20;

pub(super) struct Batches {
    schema: SchemaRef,
    source: String,
    batch_rows: usize,
    line: Int64Builder,
    record: StringViewBuilder,
    malformed: BooleanBuilder,
    fields: Vec<StringBuilder>,
    rows_in_batch: usize,
    bytes_in_batch: usize,
    batches: Vec<RecordBatch>,
    rows: usize,
}

impl Batches {
    pub(super) fn new(schema: SchemaRef, source: &str, batch_rows: usize) -> Self {
        let nfields = schema.fields().len().saturating_sub(4);
        let batch_rows = batch_rows.max(1);
        let cap = batch_rows.min(4096);
        Batches {
            schema,
            source: source.to_string(),
            batch_rows,
            line: Int64Builder::with_capacity(cap),
            record: StringViewBuilder::with_capacity(cap),
            malformed: BooleanBuilder::with_capacity(cap),
            fields: (0..nfields)
                .map(|_| StringBuilder::with_capacity(cap, cap * 8))
                .collect(),
            rows_in_batch: 0,
            bytes_in_batch: 0,
            batches: Vec::new(),
            rows: 0,
        }
    }

    /// One record; `values` has one entry per field (`None` = NULL), or is `None` for a
    /// malformed record (every field NULL).
    pub(super) fn push<S: AsRef<str>>(
        &mut self,
        line: usize,
        record: &str,
        values: Option<&[Option<S>]>,
    ) -> Result<(), Error> {
        self.line
            .append_value(i64::try_from(line).unwrap_or(i64::MAX));
        self.record.append_value(record);
        self.malformed.append_value(values.is_none());
        match values {
            Some(values) => {
                for (builder, value) in self.fields.iter_mut().zip(values) {
                    match value {
                        Some(v) => builder.append_value(v.as_ref()),
                        None => builder.append_null(),
                    }
                }
            }
            None => self.fields.iter_mut().for_each(|b| b.append_null()),
        }
        self.rows_in_batch += 1;
        self.rows += 1;
        self.bytes_in_batch += record.len();
        if self.rows_in_batch >= self.batch_rows || self.bytes_in_batch >= MAX_BATCH_BYTES {
            self.flush()?;
        }
        Ok(())
    }

    pub(super) fn rows(&self) -> usize {
        self.rows
    }

    fn flush(&mut self) -> Result<(), Error> {
        if self.rows_in_batch == 0 {
            return Ok(());
        }
        let source = constant_text(&self.source, self.rows_in_batch);
        let mut columns: Vec<ArrayRef> = Vec::with_capacity(4 + self.fields.len());
        columns.push(Arc::new(source));
        columns.push(Arc::new(self.line.finish()));
        columns.push(Arc::new(self.record.finish()));
        columns.push(Arc::new(self.malformed.finish()));
        columns.extend(
            self.fields
                .iter_mut()
                .map(|b| Arc::new(b.finish()) as ArrayRef),
        );
        self.batches
            .push(RecordBatch::try_new(self.schema.clone(), columns)?);
        self.rows_in_batch = 0;
        self.bytes_in_batch = 0;
        Ok(())
    }

    pub(super) fn finish(mut self) -> Result<(Vec<RecordBatch>, usize), Error> {
        self.flush()?;
        Ok((self.batches, self.rows))
    }
}

/// `n` times the text `s`, as a string view array whose views all point at one copy of it.
///
/// `source_file`, `record` and `file_hash` are views (Utf8View) rather than offset strings:
/// every join, filter or repartition of a batch copies a column, and a view copies 16 bytes
/// where an offset string copies the whole text (a record is 50 to 200 bytes; copying
/// them cost more than a second per 5M rows in each join of a validate step).
pub fn constant_text(s: &str, n: usize) -> StringViewArray {
    let view = make_view(s.as_bytes(), 0, 0);
    let buffers = if s.len() > 12 {
        vec![Buffer::from(s.as_bytes())]
    } else {
        Vec::new()
    };
    StringViewArray::try_new(ScalarBuffer::from(vec![view; n]), buffers, None)
        .unwrap_or_else(|_| StringViewArray::from_iter_values(std::iter::repeat_n(s, n)))
}
