-- Reason codes per record (rules: docs/pipelines.md#ecommerce). Fields arrive trimmed
-- (empty → NULL). `stageable`: the record has an integer key, so it is staged even when a
-- cleaning rule excludes it from the KPIs (the later version shadows the earlier one).
-- `record` (the raw line) is kept for rejected records only, '' for the others: the
-- rejects need it, and keeping every record would keep the whole file text in memory.
CREATE TEMP TABLE checked_products AS
SELECT * REPLACE (CASE WHEN accepted(reasons) THEN '' ELSE record END AS record) FROM (
SELECT source_file, line_number, record, file_hash,
       parse_int(id) AS id, sku, parse_float(cost) AS cost, category, name, brand,
       parse_float(retail_price) AS retail_price, department,
       NOT malformed AND parse_int(id) IS NOT NULL AS stageable,
       CASE WHEN malformed THEN make_array('MALFORMED') ELSE reasons(
         id IS NULL, 'MISSING:id',
         id IS NOT NULL AND parse_int(id) IS NULL, 'BAD_TYPE:id',
         cost IS NULL, 'MISSING:cost',
         cost IS NOT NULL AND parse_float(cost) IS NULL, 'BAD_TYPE:cost',
         parse_float(cost) IS NOT NULL AND parse_float(cost) <= 0, 'NOT_POSITIVE:cost',
         retail_price IS NULL, 'MISSING:retail_price',
         retail_price IS NOT NULL AND parse_float(retail_price) IS NULL, 'BAD_TYPE:retail_price',
         parse_float(retail_price) IS NOT NULL AND parse_float(retail_price) <= 0, 'NOT_POSITIVE:retail_price'
       ) END AS reasons
FROM batch_products);

CREATE TEMP TABLE checked_orders AS
SELECT * REPLACE (CASE WHEN accepted(reasons) THEN '' ELSE record END AS record) FROM (
SELECT source_file, line_number, record, file_hash,
       parse_int(order_id) AS order_id, parse_int(user_id) AS user_id, status,
       parse_ts(created_at) AS created_at, parse_ts(returned_at) AS returned_at,
       parse_ts(shipped_at) AS shipped_at, parse_ts(delivered_at) AS delivered_at,
       parse_int(num_of_item) AS num_of_item,
       NOT malformed AND parse_int(order_id) IS NOT NULL AS stageable,
       CASE WHEN malformed THEN make_array('MALFORMED') ELSE reasons(
         order_id IS NULL, 'MISSING:order_id',
         order_id IS NOT NULL AND parse_int(order_id) IS NULL, 'BAD_TYPE:order_id',
         user_id IS NOT NULL AND parse_int(user_id) IS NULL, 'BAD_TYPE:user_id',
         created_at IS NULL, 'MISSING:created_at',
         created_at IS NOT NULL AND parse_ts(created_at) IS NULL, 'BAD_TIMESTAMP:created_at',
         num_of_item IS NULL, 'MISSING:num_of_item',
         num_of_item IS NOT NULL AND parse_int(num_of_item) IS NULL, 'BAD_TYPE:num_of_item',
         parse_int(num_of_item) IS NOT NULL AND parse_int(num_of_item) <= 0, 'NOT_POSITIVE:num_of_item'
       ) END AS reasons
FROM batch_orders);

CREATE TEMP TABLE checked_items AS
SELECT * REPLACE (CASE WHEN accepted(reasons) THEN '' ELSE record END AS record) FROM (
SELECT source_file, line_number, record, file_hash,
       parse_int(id) AS id, parse_int(order_id) AS order_id, parse_int(user_id) AS user_id,
       parse_int(product_id) AS product_id, status,
       parse_ts(created_at) AS created_at, parse_ts(shipped_at) AS shipped_at,
       parse_ts(delivered_at) AS delivered_at, parse_ts(returned_at) AS returned_at,
       parse_float(sale_price) AS sale_price,
       NOT malformed AND parse_int(id) IS NOT NULL AND parse_int(order_id) IS NOT NULL AS stageable,
       CASE WHEN malformed THEN make_array('MALFORMED') ELSE reasons(
         id IS NULL, 'MISSING:id',
         id IS NOT NULL AND parse_int(id) IS NULL, 'BAD_TYPE:id',
         order_id IS NULL, 'MISSING:order_id',
         order_id IS NOT NULL AND parse_int(order_id) IS NULL, 'BAD_TYPE:order_id',
         user_id IS NOT NULL AND parse_int(user_id) IS NULL, 'BAD_TYPE:user_id',
         product_id IS NULL, 'MISSING:product_id',
         product_id IS NOT NULL AND parse_int(product_id) IS NULL, 'BAD_TYPE:product_id',
         sale_price IS NULL, 'MISSING:sale_price',
         sale_price IS NOT NULL AND parse_float(sale_price) IS NULL, 'BAD_TYPE:sale_price',
         parse_float(sale_price) IS NOT NULL AND parse_float(sale_price) <= 0, 'NOT_POSITIVE:sale_price'
       ) END AS reasons
FROM batch_order_items);

CREATE VIEW checked AS
SELECT source_file, line_number, record, file_hash, reasons FROM checked_products
UNION ALL SELECT source_file, line_number, record, file_hash, reasons FROM checked_orders
UNION ALL SELECT source_file, line_number, record, file_hash, reasons FROM checked_items;
