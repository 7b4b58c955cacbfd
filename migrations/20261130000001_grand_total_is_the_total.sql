-- The invoice line tree's root, GRAND_TOTAL, is the invoice's one total (= TOTAL):
-- its children are the charge groups, then the minimum-commitment true-up and the
-- credits applied (as a negative line), so it adds up. Before, it was the sum of the
-- charges only, and an invoice with a true-up or credits showed two different
-- totals. Invoices stored in the old shape are brought to the new one.
UPDATE invoices
SET lines = jsonb_set(
        jsonb_set(
            jsonb_set(lines, '{grandTotal,amount}', lines -> 'total' -> 'amount'),
            '{grandTotal,displayName}', '"Total"'),
        '{grandTotal,children}',
        (lines -> 'grandTotal' -> 'children')
        || CASE WHEN jsonb_typeof(lines -> 'trueUp') = 'object'
                THEN jsonb_build_array(lines -> 'trueUp') ELSE '[]'::jsonb END
        || CASE WHEN (lines -> 'totalCredits' ->> 'amount')::numeric <> 0
                THEN jsonb_build_array(jsonb_build_object(
                    'kind', 'TOTAL_CREDITS', 'cardName', NULL, 'displayName', 'Credits',
                    'description', NULL, 'quantity', NULL, 'unitPrice', NULL,
                    'amount', '-' || (lines -> 'totalCredits' ->> 'amount'),
                    'period', NULL, 'children', '[]'::jsonb))
                ELSE '[]'::jsonb END)
WHERE lines ? 'grandTotal'
  AND NOT EXISTS (SELECT 1 FROM jsonb_array_elements(lines -> 'grandTotal' -> 'children') c
                  WHERE c ->> 'kind' <> 'GROUP');
