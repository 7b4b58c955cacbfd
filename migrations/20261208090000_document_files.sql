-- Documents stored as files ([documents] store = "files", README "Where documents
-- live"): the row then holds each file's file:// URL and the SHA-256 of its content
-- instead of the bytes. Every row has each document in exactly one place.
ALTER TABLE invoice_documents
    ALTER COLUMN html DROP NOT NULL,
    ALTER COLUMN pdf DROP NOT NULL,
    ADD COLUMN html_url    TEXT,
    ADD COLUMN html_sha256 TEXT,
    ADD COLUMN pdf_url     TEXT,
    ADD COLUMN pdf_sha256  TEXT,
    ADD CONSTRAINT invoice_documents_html_in_one_place
        CHECK ((html IS NULL) = (html_url IS NOT NULL AND html_sha256 IS NOT NULL)),
    ADD CONSTRAINT invoice_documents_pdf_in_one_place
        CHECK ((pdf IS NULL) = (pdf_url IS NOT NULL AND pdf_sha256 IS NOT NULL));
