//! Accumulates raw rows into Arrow batches of [`super::raw_schema`].
//!
//! `record` and every field are string views. A value that is a slice of the file's text (every
//! record, every field except a CSV field with doubled quotes) is not appended anywhere: its
//! view points into one copy of the bytes its batch spans, made with a single `memcpy` when the
//! batch is cut. Appending each value to a builder instead cost a copy and a call per value
//! (5M records × 8 columns). The copy per batch, rather than views into the whole file, keeps
//! each batch's memory its own: DataFusion accounts a buffer at its full size, and the file's
//! text is freed once it is parsed.

use std::sync::Arc;

use datafusion::arrow::array::{
    ArrayRef, BooleanBuilder, Int64Builder, StringViewArray, make_view,
};
use datafusion::arrow::buffer::{Buffer, NullBuffer, ScalarBuffer};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;

use crate::error::Error;

/// A batch is cut once the text it spans reaches this many bytes: view offsets (u32) then
/// never overflow, and no batch pins much memory (a record is at most 64 MiB).
const MAX_BATCH_BYTES: usize = 512 << 20;

/// Block 0 of every view column: the batch's span of the file text.
const TEXT_BLOCK: u32 = 0;
/// Block 1: values that are not slices of the text (unescaped CSV fields).
const OWNED_BLOCK: u32 = 1;

/// One string-view column under construction.
#[derive(Default)]
struct ViewColumn {
    views: Vec<u128>,
    /// Validity bits, one per view (set = not NULL).
    valid: Vec<bool>,
}

pub(super) struct Batches<'t> {
    schema: SchemaRef,
    source: String,
    batch_rows: usize,
    /// The whole (validated) text being parsed; values are located in it by address.
    text: &'t str,
    line: Int64Builder,
    malformed: BooleanBuilder,
    /// `record`, then one column per field.
    columns: Vec<ViewColumn>,
    /// Byte range of `text` the current batch's views point into.
    span: Option<(usize, usize)>,
    owned: Vec<u8>,
    rows_in_batch: usize,
    batches: Vec<RecordBatch>,
    rows: usize,
    /// Only `rows` is kept ([`crate::ingest::ReadOptions::count_only`]).
    counting: bool,
}

impl<'t> Batches<'t> {
    pub(super) fn new(
        schema: SchemaRef,
        source: &str,
        batch_rows: usize,
        text: &'t str,
        counting: bool,
    ) -> Self {
        let ncolumns = schema.fields().len().saturating_sub(3);
        let batch_rows = batch_rows.max(1);
        let cap = batch_rows.min(4096);
        Batches {
            schema,
            source: source.to_string(),
            batch_rows,
            text,
            line: Int64Builder::with_capacity(cap),
            malformed: BooleanBuilder::with_capacity(cap),
            columns: (0..ncolumns).map(|_| ViewColumn::default()).collect(),
            span: None,
            owned: Vec::new(),
            rows_in_batch: 0,
            batches: Vec::new(),
            rows: 0,
            counting,
        }
    }

    /// Whether records are only counted: a parser need not compute their values.
    pub(super) fn counting(&self) -> bool {
        self.counting
    }

    /// One record; `values` has one entry per field (`None` = NULL), or is `None` for a
    /// malformed record (every field NULL). `record` and the values are normally slices of the
    /// text given to [`Batches::new`]; other strings are copied.
    pub(super) fn push<S: AsRef<str>>(
        &mut self,
        line: usize,
        record: &str,
        values: Option<&[Option<S>]>,
    ) -> Result<(), Error> {
        if self.counting {
            self.rows += 1;
            return Ok(());
        }
        // Cut before a record that would stretch the span too far (offsets are u32).
        if let (Some((start, _)), Some(at)) = (self.span, self.offset_of(record))
            && (at + record.len()).saturating_sub(start) >= MAX_BATCH_BYTES
        {
            self.flush()?;
        }
        if self.span.is_none() {
            self.span = self.offset_of(record).map(|at| (at, at));
        }
        self.line
            .append_value(i64::try_from(line).unwrap_or(i64::MAX));
        self.malformed.append_value(values.is_none());
        self.append(0, Some(record));
        match values {
            Some(values) => {
                for (i, value) in values.iter().enumerate() {
                    self.append(i + 1, value.as_ref().map(|v| v.as_ref()));
                }
            }
            None => (1..self.columns.len()).for_each(|i| self.append(i, None)),
        }
        self.rows_in_batch += 1;
        self.rows += 1;
        if self.rows_in_batch >= self.batch_rows {
            self.flush()?;
        }
        Ok(())
    }

    /// An empty `Batches` for the same file (one per chunk when a file is parsed in chunks).
    pub(super) fn sibling(&self) -> Batches<'t> {
        Batches::new(
            self.schema.clone(),
            &self.source,
            self.batch_rows,
            self.text,
            self.counting,
        )
    }

    /// Append the rows of `other` (which come after ours in the file).
    pub(super) fn absorb(&mut self, other: Batches<'t>) -> Result<(), Error> {
        self.flush()?;
        let (batches, rows) = other.finish()?;
        self.batches.extend(batches);
        self.rows += rows;
        Ok(())
    }

    pub(super) fn rows(&self) -> usize {
        self.rows
    }

    /// Where `s` starts in the text, if it is a slice of it.
    fn offset_of(&self, s: &str) -> Option<usize> {
        let base = self.text.as_ptr() as usize;
        let at = (s.as_ptr() as usize).checked_sub(base)?;
        (at + s.len() <= self.text.len()).then_some(at)
    }

    fn append(&mut self, column: usize, value: Option<&str>) {
        let view = match value {
            None => 0,
            Some(v) => match (self.span, self.offset_of(v)) {
                (Some((start, end)), Some(at)) if at >= start => {
                    self.span = Some((start, end.max(at + v.len())));
                    make_view(v.as_bytes(), TEXT_BLOCK, (at - start) as u32)
                }
                _ => {
                    let at = self.owned.len();
                    self.owned.extend_from_slice(v.as_bytes());
                    make_view(v.as_bytes(), OWNED_BLOCK, at as u32)
                }
            },
        };
        let rows = self.batch_rows.min(65536);
        let c = &mut self.columns[column];
        if c.views.capacity() == 0 {
            c.views.reserve_exact(rows);
            c.valid.reserve_exact(rows);
        }
        c.views.push(view);
        c.valid.push(value.is_some());
    }

    fn flush(&mut self) -> Result<(), Error> {
        if self.rows_in_batch == 0 {
            return Ok(());
        }
        let text = match self.span.take() {
            Some((start, end)) => Buffer::from(&self.text.as_bytes()[start..end]),
            None => Buffer::from(Vec::<u8>::new()),
        };
        let owned = Buffer::from(std::mem::take(&mut self.owned));
        let blocks: Arc<[Buffer]> = Arc::from(vec![text, owned]);
        let source = constant_text(&self.source, self.rows_in_batch);
        let mut columns: Vec<ArrayRef> = Vec::with_capacity(3 + self.columns.len());
        columns.push(Arc::new(source));
        columns.push(Arc::new(self.line.finish()));
        let mut views = self.columns.iter_mut().map(|c| {
            let c = std::mem::take(c);
            view_array(c, blocks.clone()).map(|a| Arc::new(a) as ArrayRef)
        });
        let record = views.next().transpose()?;
        let fields: Vec<ArrayRef> = views.collect::<Result<_, Error>>()?;
        columns.extend(record);
        columns.push(Arc::new(self.malformed.finish()));
        columns.extend(fields);
        self.batches
            .push(RecordBatch::try_new(self.schema.clone(), columns)?);
        self.rows_in_batch = 0;
        Ok(())
    }

    pub(super) fn finish(mut self) -> Result<(Vec<RecordBatch>, usize), Error> {
        self.flush()?;
        Ok((self.batches, self.rows))
    }
}

/// The array of one finished view column.
fn view_array(c: ViewColumn, blocks: Arc<[Buffer]>) -> Result<StringViewArray, Error> {
    let nulls = c
        .valid
        .iter()
        .any(|v| !v)
        .then(|| NullBuffer::from(c.valid.as_slice()));
    let views = ScalarBuffer::from(c.views);
    if cfg!(debug_assertions) {
        // Debug builds (and so every test) check what release builds rely on.
        return Ok(StringViewArray::try_new(views, blocks, nulls)?);
    }
    // SAFETY: every view was made by `make_view` from a `&str` (valid UTF-8, so the bytes it
    // covers are too) that is either inline or lies at the recorded offset inside block 0 (the
    // copy of `text[start..end]`, and `start <= at`, `at + len <= end` by construction of the
    // span) or inside block 1 (appended to `owned` at that offset); NULL views are zero, and
    // `nulls` has one bit per view. That is everything `try_new` validates.
    Ok(unsafe { StringViewArray::new_unchecked(views, blocks, nulls) })
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
    let views = ScalarBuffer::from(vec![view; n]);
    if cfg!(debug_assertions) {
        return StringViewArray::try_new(views, buffers, None)
            .unwrap_or_else(|_| StringViewArray::from_iter_values(std::iter::repeat_n(s, n)));
    }
    // SAFETY: every view is `make_view` of `s` (a &str) at offset 0 of buffer 0, which holds
    // exactly the bytes of `s` when they do not fit inline; there are no NULLs. `try_new`
    // would check each of the `n` identical views (1-1.5% of the read step in `perf`).
    unsafe { StringViewArray::new_unchecked(views, buffers, None) }
}
