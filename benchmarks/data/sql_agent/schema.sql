-- Eval schema for SQL drafting (benchmarks/sql_agent.py): a small support database, Korean and English.
-- Categorical values are English except products.category (Korean), so both directions of the
-- bilingual lexicon are exercised. Rows live in seed.sql.
CREATE TABLE customers (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    email TEXT,
    tier TEXT NOT NULL,          -- vip | standard
    country TEXT NOT NULL,       -- KR | US
    created_at DATE
);

CREATE TABLE products (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    description TEXT,
    category TEXT NOT NULL,      -- 가전 | 도서 | 의류
    price INTEGER NOT NULL,
    status TEXT NOT NULL         -- active | discontinued
);

CREATE TABLE faq (
    id INTEGER PRIMARY KEY,
    question TEXT NOT NULL,
    answer TEXT NOT NULL,
    status TEXT NOT NULL,        -- published | draft | archived
    category TEXT NOT NULL,      -- billing | shipping | account | refund
    updated_at DATE
);

CREATE TABLE tickets (
    id INTEGER PRIMARY KEY,
    customer_id INTEGER NOT NULL REFERENCES customers(id),
    product_id INTEGER REFERENCES products(id),
    subject TEXT NOT NULL,
    body TEXT NOT NULL,
    status TEXT NOT NULL,        -- open | pending | closed
    priority TEXT NOT NULL,      -- high | normal | low
    created_at TIMESTAMP
);

CREATE TABLE orders (
    id INTEGER PRIMARY KEY,
    customer_id INTEGER NOT NULL REFERENCES customers(id),
    product_id INTEGER NOT NULL REFERENCES products(id),
    quantity INTEGER NOT NULL,
    status TEXT NOT NULL,        -- paid | shipped | cancelled
    ordered_at DATE
);
