--
-- PostgreSQL database dump
--

\restrict lDSWrcpBcQa63nTySmhwK3Tpcnq9Oj57UeJKeSZGepwtb8RoEq5etFEmYsp9QYb

-- Dumped from database version 15.18 (Debian 15.18-0+deb12u1)
-- Dumped by pg_dump version 15.18 (Debian 15.18-0+deb12u1)

SET statement_timeout = 0;
SET lock_timeout = 0;
SET idle_in_transaction_session_timeout = 0;
SET client_encoding = 'UTF8';
SET standard_conforming_strings = on;
SELECT pg_catalog.set_config('search_path', '', false);
SET check_function_bodies = false;
SET xmloption = content;
SET client_min_messages = warning;
SET row_security = off;

SET default_tablespace = '';

SET default_table_access_method = heap;

--
-- Name: alembic_version; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.alembic_version (
    version_num character varying(32) NOT NULL
);


--
-- Name: attestations; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.attestations (
    id character varying(32) NOT NULL,
    imei character varying(15) NOT NULL,
    handset_id integer,
    card_id integer,
    app character varying(8) NOT NULL,
    rand bytea NOT NULL,
    nonce character varying(64) NOT NULL,
    client character varying(64) NOT NULL,
    created_at timestamp with time zone NOT NULL,
    expires_at timestamp with time zone NOT NULL,
    state character varying(12) NOT NULL,
    appraised_at timestamp with time zone,
    status character varying(16),
    reasons json,
    iccid character varying(20),
    imsi character varying(15),
    evidence json,
    ear text,
    resync_id character varying(32)
);


--
-- Name: audit_entries; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.audit_entries (
    seq bigint NOT NULL,
    at timestamp with time zone NOT NULL,
    actor character varying(200) NOT NULL,
    action character varying(64) NOT NULL,
    subject character varying(200) NOT NULL,
    details json NOT NULL,
    prev_hash bytea NOT NULL,
    hash bytea NOT NULL
);


--
-- Name: audit_head; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.audit_head (
    id integer NOT NULL,
    seq bigint NOT NULL,
    hash bytea NOT NULL,
    prev_hash bytea
);


--
-- Name: audit_head_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.audit_head_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;


--
-- Name: audit_head_id_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.audit_head_id_seq OWNED BY public.audit_head.id;


--
-- Name: cards; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.cards (
    id integer NOT NULL,
    iccid character varying(20) NOT NULL,
    imsi character varying(15) NOT NULL,
    profile character varying(100),
    algorithm character varying(16) NOT NULL,
    k_enc bytea NOT NULL,
    opc_enc bytea NOT NULL,
    pin1_enc bytea,
    puk1_enc bytea,
    adm1_enc bytea,
    impi character varying(255),
    impu text,
    batch character varying(255) NOT NULL,
    imported_at timestamp with time zone NOT NULL,
    verification character varying(16) NOT NULL,
    verified_at timestamp with time zone,
    verification_reason text,
    sqn_seq bigint NOT NULL
);


--
-- Name: cards_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.cards_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;


--
-- Name: cards_id_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.cards_id_seq OWNED BY public.cards.id;


--
-- Name: checkouts; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.checkouts (
    id integer NOT NULL,
    attestation_id character varying(32) NOT NULL,
    handset_id integer NOT NULL,
    card_id integer,
    "user" character varying(200) NOT NULL,
    started_at timestamp with time zone NOT NULL,
    started_by character varying(200) NOT NULL,
    returned_at timestamp with time zone,
    returned_by character varying(200)
);


--
-- Name: checkouts_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.checkouts_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;


--
-- Name: checkouts_id_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.checkouts_id_seq OWNED BY public.checkouts.id;


--
-- Name: handsets; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.handsets (
    id integer NOT NULL,
    imei character varying(15) NOT NULL,
    imeisv character varying(16),
    label character varying(200) NOT NULL,
    public_key_pem text NOT NULL,
    key_algorithm character varying(16) NOT NULL,
    created_at timestamp with time zone NOT NULL
);


--
-- Name: handsets_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.handsets_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;


--
-- Name: handsets_id_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.handsets_id_seq OWNED BY public.handsets.id;


--
-- Name: operators; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.operators (
    id integer NOT NULL,
    token_hash bytea NOT NULL,
    role character varying(16) NOT NULL,
    label character varying(200) NOT NULL,
    created_at timestamp with time zone NOT NULL,
    revoked_at timestamp with time zone
);


--
-- Name: operators_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.operators_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;


--
-- Name: operators_id_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.operators_id_seq OWNED BY public.operators.id;


--
-- Name: pairings; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.pairings (
    id integer NOT NULL,
    handset_id integer NOT NULL,
    card_id integer NOT NULL,
    created_at timestamp with time zone NOT NULL,
    ended_at timestamp with time zone
);


--
-- Name: pairings_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.pairings_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;


--
-- Name: pairings_id_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.pairings_id_seq OWNED BY public.pairings.id;


--
-- Name: rate_counters; Type: TABLE; Schema: public; Owner: -
--

CREATE UNLOGGED TABLE public.rate_counters (
    key character varying(96) NOT NULL,
    "window" bigint NOT NULL,
    count integer NOT NULL
);


--
-- Name: service_meta; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.service_meta (
    name character varying(64) NOT NULL,
    value bytea NOT NULL
);


--
-- Name: audit_head id; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.audit_head ALTER COLUMN id SET DEFAULT nextval('public.audit_head_id_seq'::regclass);


--
-- Name: cards id; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.cards ALTER COLUMN id SET DEFAULT nextval('public.cards_id_seq'::regclass);


--
-- Name: checkouts id; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.checkouts ALTER COLUMN id SET DEFAULT nextval('public.checkouts_id_seq'::regclass);


--
-- Name: handsets id; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.handsets ALTER COLUMN id SET DEFAULT nextval('public.handsets_id_seq'::regclass);


--
-- Name: operators id; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.operators ALTER COLUMN id SET DEFAULT nextval('public.operators_id_seq'::regclass);


--
-- Name: pairings id; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.pairings ALTER COLUMN id SET DEFAULT nextval('public.pairings_id_seq'::regclass);


--
-- Data for Name: alembic_version; Type: TABLE DATA; Schema: public; Owner: -
--

COPY public.alembic_version (version_num) FROM stdin;
0004_no_derived_secrets
\.


--
-- Data for Name: attestations; Type: TABLE DATA; Schema: public; Owner: -
--

COPY public.attestations (id, imei, handset_id, card_id, app, rand, nonce, client, created_at, expires_at, state, appraised_at, status, reasons, iccid, imsi, evidence, ear, resync_id) FROM stdin;
96cf7c3cb44ee9d1f5987f34e4da7535	356938035640011	1	1	usim	\\x648457e383aa086d55afbe9cb8463c95	mFmTd1rObbEx55zkkiPffGZmAojQQHHTSBVoc2xuxkk	127.0.0.1	2026-12-07 12:57:12.267898+00	2026-12-07 12:58:12.267898+00	consumed	2026-12-07 12:57:12.283977+00	affirming	[]	8900101000000000019	001010000000001	{"attestation_id":"96cf7c3cb44ee9d1f5987f34e4da7535","nonce":"mFmTd1rObbEx55zkkiPffGZmAojQQHHTSBVoc2xuxkk","imei":"356938035640011","imeisv":null,"iccid":"8900101000000000019","imsi":"001010000000001","mnc_length":2,"ust":[10,12,19,20,21,27,33,68,85,95,101,109],"prose":true,"isim":{"impi":"001010000000001@ims.mnc001.mcc001.3gppnetwork.org","impu":["sip:001010000000001@ims.mnc001.mcc001.3gppnetwork.org","tel:+15550100001","sip:unit-0001@mcptt.example.org"],"ist":[15]},"outcome":{"outcome":"success","res":"721772e3f0d9d74a"}}	eyJhbGciOiJFUzI1NiIsImtpZCI6IjBxUVdGSDY5TzZjUFItTUJXWDFuN0tHTjdWT3FXVVFqdF96UjR4bzVNakUiLCJ0eXAiOiJKV1QifQ.eyJlYXRfcHJvZmlsZSI6InRhZzppZXRmLm9yZywyMDI2OnJhdHMvZWFyIzA0IiwiaWF0IjoxNzk2NjQ4MjMyLCJleHAiOjE3OTY2NDg1MzIsImVhcl92ZXJpZmllcl9pZCI6eyJkZXZlbG9wZXIiOiJodHRwczovL3NpbWF0dGVzdC5kZXYiLCJidWlsZCI6InNpbWF0dGVzdCAwLjEuMCJ9LCJlYXRfbm9uY2UiOiJtRm1UZDFyT2JiRXg1NXpra2lQZmZHWm1Bb2pRUUhIVFNCVm9jMnh1eGtrIiwic3VibW9kcyI6eyJtZSI6eyJlYXJfc3RhdHVzIjoiYWZmaXJtaW5nIiwiZWFyX3RydXN0d29ydGhpbmVzc192ZWN0b3IiOnsiaW5zdGFuY2UtaWRlbnRpdHkiOjIsInNvdXJjZWQtZGF0YSI6Mn0sImVhcl9hcHByYWlzYWxfcG9saWN5X2lkcyI6WyJwb2xpY3k6c2ltYXR0ZXN0L2NoZWNrb3V0L3YxIl19LCJ1c2ltIjp7ImVhcl9zdGF0dXMiOiJhZmZpcm1pbmciLCJlYXJfdHJ1c3R3b3J0aGluZXNzX3ZlY3RvciI6eyJpbnN0YW5jZS1pZGVudGl0eSI6MiwiaGFyZHdhcmUiOjIsImNvbmZpZ3VyYXRpb24iOjJ9LCJlYXJfYXBwcmFpc2FsX3BvbGljeV9pZHMiOlsicG9saWN5OnNpbWF0dGVzdC9jaGVja291dC92MSJdfSwicGFpcmluZyI6eyJlYXJfc3RhdHVzIjoiYWZmaXJtaW5nIiwiZWFyX3RydXN0d29ydGhpbmVzc192ZWN0b3IiOnsiaW5zdGFuY2UtaWRlbnRpdHkiOjJ9LCJlYXJfYXBwcmFpc2FsX3BvbGljeV9pZHMiOlsicG9saWN5OnNpbWF0dGVzdC9jaGVja291dC92MSJdfX0sInNpbWF0dGVzdF9yZWFzb25zIjpbXX0.NgdlE0S6dyH9tri-x_yQpEIKV2BFNGY0J23sZcNGCZZ5M3lMYc_ksIpgrooYxpmjyg0V2myH7NQ_exTHvcoVIw	\N
e3377c34df879c50e4114fda0bd459be	356938035640029	2	2	usim	\\xf99b68c50782ab28fb4428d0ddcc8159	Mazn28UhI_eX0W8fdxbN5VkGNQmtWM3nkMNSeS04dgY	127.0.0.1	2026-12-07 12:57:12.295909+00	2026-12-07 12:58:12.295909+00	consumed	2026-12-07 12:57:12.303948+00	affirming	[]	8900101000000000027	001010000000002	{"attestation_id":"e3377c34df879c50e4114fda0bd459be","nonce":"Mazn28UhI_eX0W8fdxbN5VkGNQmtWM3nkMNSeS04dgY","imei":"356938035640029","imeisv":null,"iccid":"8900101000000000027","imsi":"001010000000002","mnc_length":2,"ust":[10,12,19,20,21,27,33,68,85,95,101,109],"prose":true,"isim":{"impi":"001010000000002@ims.mnc001.mcc001.3gppnetwork.org","impu":["sip:001010000000002@ims.mnc001.mcc001.3gppnetwork.org","tel:+15550100002"],"ist":[15]},"outcome":{"outcome":"success","res":"c6f06489c80f15ff"}}	eyJhbGciOiJFUzI1NiIsImtpZCI6IjBxUVdGSDY5TzZjUFItTUJXWDFuN0tHTjdWT3FXVVFqdF96UjR4bzVNakUiLCJ0eXAiOiJKV1QifQ.eyJlYXRfcHJvZmlsZSI6InRhZzppZXRmLm9yZywyMDI2OnJhdHMvZWFyIzA0IiwiaWF0IjoxNzk2NjQ4MjMyLCJleHAiOjE3OTY2NDg1MzIsImVhcl92ZXJpZmllcl9pZCI6eyJkZXZlbG9wZXIiOiJodHRwczovL3NpbWF0dGVzdC5kZXYiLCJidWlsZCI6InNpbWF0dGVzdCAwLjEuMCJ9LCJlYXRfbm9uY2UiOiJNYXpuMjhVaElfZVgwVzhmZHhiTjVWa0dOUW10V00zbmtNTlNlUzA0ZGdZIiwic3VibW9kcyI6eyJtZSI6eyJlYXJfc3RhdHVzIjoiYWZmaXJtaW5nIiwiZWFyX3RydXN0d29ydGhpbmVzc192ZWN0b3IiOnsiaW5zdGFuY2UtaWRlbnRpdHkiOjIsInNvdXJjZWQtZGF0YSI6Mn0sImVhcl9hcHByYWlzYWxfcG9saWN5X2lkcyI6WyJwb2xpY3k6c2ltYXR0ZXN0L2NoZWNrb3V0L3YxIl19LCJ1c2ltIjp7ImVhcl9zdGF0dXMiOiJhZmZpcm1pbmciLCJlYXJfdHJ1c3R3b3J0aGluZXNzX3ZlY3RvciI6eyJpbnN0YW5jZS1pZGVudGl0eSI6MiwiaGFyZHdhcmUiOjIsImNvbmZpZ3VyYXRpb24iOjJ9LCJlYXJfYXBwcmFpc2FsX3BvbGljeV9pZHMiOlsicG9saWN5OnNpbWF0dGVzdC9jaGVja291dC92MSJdfSwicGFpcmluZyI6eyJlYXJfc3RhdHVzIjoiYWZmaXJtaW5nIiwiZWFyX3RydXN0d29ydGhpbmVzc192ZWN0b3IiOnsiaW5zdGFuY2UtaWRlbnRpdHkiOjJ9LCJlYXJfYXBwcmFpc2FsX3BvbGljeV9pZHMiOlsicG9saWN5OnNpbWF0dGVzdC9jaGVja291dC92MSJdfX0sInNpbWF0dGVzdF9yZWFzb25zIjpbXX0.NDFfwJaoMk09IJOkstctbj9I7yv3_kEhyopIGBP78X9ZRHt-aRPUoAovE4tW1rk73axRgEeLS1SKqz99z6LqKw	\N
a1937f6a37e558a526deed9bf2845fe5	356938035640037	3	3	usim	\\xc1f6abe3b65ce66eb3fd1eb652530eef	OWEP1U5-ueR91Ym9VgnoFX5k4Ddfg_tm5yZ1sgPCRaQ	127.0.0.1	2026-12-07 12:57:12.311811+00	2026-12-07 12:58:12.311811+00	consumed	2026-12-07 12:57:12.328874+00	resync	[]	8900101000000000035	001010000000003	{"attestation_id":"a1937f6a37e558a526deed9bf2845fe5","nonce":"OWEP1U5-ueR91Ym9VgnoFX5k4Ddfg_tm5yZ1sgPCRaQ","imei":"356938035640037","imeisv":null,"iccid":"8900101000000000035","imsi":"001010000000003","mnc_length":2,"ust":[10,12,19,20,21,27,33,68,85,95,101,109],"prose":true,"isim":{"impi":"001010000000003@ims.mnc001.mcc001.3gppnetwork.org","impu":["sip:001010000000003@ims.mnc001.mcc001.3gppnetwork.org"],"ist":[15]},"outcome":{"outcome":"sync_failure","auts":"c82065ecceba34238f69fa5fce44"}}	\N	e93441c7e6a4f1ee01bcfb37b58d77a8
e93441c7e6a4f1ee01bcfb37b58d77a8	356938035640037	3	3	usim	\\x982a35084df79e66f07b600a2f71e7b8	g-QfyQBfQeFxffyzUePPtwdsP1kEhETCR6L1N--w6ec	127.0.0.1	2026-12-07 12:57:12.334131+00	2026-12-07 12:58:12.334131+00	consumed	2026-12-07 12:57:12.34062+00	affirming	[]	8900101000000000035	001010000000003	{"attestation_id":"e93441c7e6a4f1ee01bcfb37b58d77a8","nonce":"g-QfyQBfQeFxffyzUePPtwdsP1kEhETCR6L1N--w6ec","imei":"356938035640037","imeisv":null,"iccid":"8900101000000000035","imsi":"001010000000003","mnc_length":2,"ust":[10,12,19,20,21,27,33,68,85,95,101,109],"prose":true,"isim":{"impi":"001010000000003@ims.mnc001.mcc001.3gppnetwork.org","impu":["sip:001010000000003@ims.mnc001.mcc001.3gppnetwork.org"],"ist":[15]},"outcome":{"outcome":"success","res":"68de924d6d09625c"}}	eyJhbGciOiJFUzI1NiIsImtpZCI6IjBxUVdGSDY5TzZjUFItTUJXWDFuN0tHTjdWT3FXVVFqdF96UjR4bzVNakUiLCJ0eXAiOiJKV1QifQ.eyJlYXRfcHJvZmlsZSI6InRhZzppZXRmLm9yZywyMDI2OnJhdHMvZWFyIzA0IiwiaWF0IjoxNzk2NjQ4MjMyLCJleHAiOjE3OTY2NDg1MzIsImVhcl92ZXJpZmllcl9pZCI6eyJkZXZlbG9wZXIiOiJodHRwczovL3NpbWF0dGVzdC5kZXYiLCJidWlsZCI6InNpbWF0dGVzdCAwLjEuMCJ9LCJlYXRfbm9uY2UiOiJnLVFmeVFCZlFlRnhmZnl6VWVQUHR3ZHNQMWtFaEVUQ1I2TDFOLS13NmVjIiwic3VibW9kcyI6eyJtZSI6eyJlYXJfc3RhdHVzIjoiYWZmaXJtaW5nIiwiZWFyX3RydXN0d29ydGhpbmVzc192ZWN0b3IiOnsiaW5zdGFuY2UtaWRlbnRpdHkiOjIsInNvdXJjZWQtZGF0YSI6Mn0sImVhcl9hcHByYWlzYWxfcG9saWN5X2lkcyI6WyJwb2xpY3k6c2ltYXR0ZXN0L2NoZWNrb3V0L3YxIl19LCJ1c2ltIjp7ImVhcl9zdGF0dXMiOiJhZmZpcm1pbmciLCJlYXJfdHJ1c3R3b3J0aGluZXNzX3ZlY3RvciI6eyJpbnN0YW5jZS1pZGVudGl0eSI6MiwiaGFyZHdhcmUiOjIsImNvbmZpZ3VyYXRpb24iOjJ9LCJlYXJfYXBwcmFpc2FsX3BvbGljeV9pZHMiOlsicG9saWN5OnNpbWF0dGVzdC9jaGVja291dC92MSJdfSwicGFpcmluZyI6eyJlYXJfc3RhdHVzIjoiYWZmaXJtaW5nIiwiZWFyX3RydXN0d29ydGhpbmVzc192ZWN0b3IiOnsiaW5zdGFuY2UtaWRlbnRpdHkiOjJ9LCJlYXJfYXBwcmFpc2FsX3BvbGljeV9pZHMiOlsicG9saWN5OnNpbWF0dGVzdC9jaGVja291dC92MSJdfX0sInNpbWF0dGVzdF9yZWFzb25zIjpbXX0.hb9OLB979BWkM7PHoO666_ham67A2R6tVY4T6rmFHC3AvnLV3lmaAh6AM-7sceBLWoqZ-mrPb8WoJvDVccQgCQ	\N
de28882286a76db16b2379a5441a0260	356938035640011	1	1	usim	\\xf53e45d5d92413784e1f1bc17daa3502	g-UhJAR__EsS6pLujoc9OjB6skU-hzVwxCue7tR9SkE	127.0.0.1	2026-12-07 12:57:12.356154+00	2026-12-07 12:58:12.356154+00	consumed	2026-12-07 12:57:12.364133+00	contraindicated	["COMMERCIAL_SIM"]	8999970000000000019	999700000000001	{"attestation_id":"de28882286a76db16b2379a5441a0260","nonce":"g-UhJAR__EsS6pLujoc9OjB6skU-hzVwxCue7tR9SkE","imei":"356938035640011","imeisv":null,"iccid":"8999970000000000019","imsi":"999700000000001","mnc_length":2,"ust":[10,12,19,20,21,27,33,85],"prose":false,"isim":null,"outcome":{"outcome":"mac_failure"}}	eyJhbGciOiJFUzI1NiIsImtpZCI6IjBxUVdGSDY5TzZjUFItTUJXWDFuN0tHTjdWT3FXVVFqdF96UjR4bzVNakUiLCJ0eXAiOiJKV1QifQ.eyJlYXRfcHJvZmlsZSI6InRhZzppZXRmLm9yZywyMDI2OnJhdHMvZWFyIzA0IiwiaWF0IjoxNzk2NjQ4MjMyLCJleHAiOjE3OTY2NDg1MzIsImVhcl92ZXJpZmllcl9pZCI6eyJkZXZlbG9wZXIiOiJodHRwczovL3NpbWF0dGVzdC5kZXYiLCJidWlsZCI6InNpbWF0dGVzdCAwLjEuMCJ9LCJlYXRfbm9uY2UiOiJnLVVoSkFSX19Fc1M2cEx1am9jOU9qQjZza1UtaHpWd3hDdWU3dFI5U2tFIiwic3VibW9kcyI6eyJtZSI6eyJlYXJfc3RhdHVzIjoiYWZmaXJtaW5nIiwiZWFyX3RydXN0d29ydGhpbmVzc192ZWN0b3IiOnsiaW5zdGFuY2UtaWRlbnRpdHkiOjIsInNvdXJjZWQtZGF0YSI6Mn0sImVhcl9hcHByYWlzYWxfcG9saWN5X2lkcyI6WyJwb2xpY3k6c2ltYXR0ZXN0L2NoZWNrb3V0L3YxIl19LCJ1c2ltIjp7ImVhcl9zdGF0dXMiOiJjb250cmFpbmRpY2F0ZWQiLCJlYXJfdHJ1c3R3b3J0aGluZXNzX3ZlY3RvciI6eyJpbnN0YW5jZS1pZGVudGl0eSI6OTYsImhhcmR3YXJlIjowLCJjb25maWd1cmF0aW9uIjo5Nn0sImVhcl9hcHByYWlzYWxfcG9saWN5X2lkcyI6WyJwb2xpY3k6c2ltYXR0ZXN0L2NoZWNrb3V0L3YxIl19LCJwYWlyaW5nIjp7ImVhcl9zdGF0dXMiOiJjb250cmFpbmRpY2F0ZWQiLCJlYXJfdHJ1c3R3b3J0aGluZXNzX3ZlY3RvciI6eyJpbnN0YW5jZS1pZGVudGl0eSI6OTZ9LCJlYXJfYXBwcmFpc2FsX3BvbGljeV9pZHMiOlsicG9saWN5OnNpbWF0dGVzdC9jaGVja291dC92MSJdfX0sInNpbWF0dGVzdF9yZWFzb25zIjpbIkNPTU1FUkNJQUxfU0lNIl19.ii58bQUu3a1ajpwU4HbVHb1CWyAMpLIoft9roWnKsCQD61pUsRZu__zl3e9FD-M5k5NNSM9yWUpszglCU3EGqw	\N
9e5da5b0f87e66176f254ced093aaed8	356938035640078	\N	\N	usim	\\xe31ad960c3454e40706a4cd624bee036	fzdr5SytGf1qGWj1tkVlzj0RMxK2fFRLq-fUl8QgdIU	127.0.0.1	2026-12-07 12:57:12.380071+00	2026-12-07 12:58:12.380071+00	consumed	2026-12-07 12:57:12.388114+00	contraindicated	["ME_UNKNOWN","COMMERCIAL_SIM"]	8999970000000000019	999700000000001	{"attestation_id":"9e5da5b0f87e66176f254ced093aaed8","nonce":"fzdr5SytGf1qGWj1tkVlzj0RMxK2fFRLq-fUl8QgdIU","imei":"356938035640078","imeisv":null,"iccid":"8999970000000000019","imsi":"999700000000001","mnc_length":2,"ust":[10,12,19,20,21,27,33,85],"prose":false,"isim":null,"outcome":{"outcome":"mac_failure"}}	eyJhbGciOiJFUzI1NiIsImtpZCI6IjBxUVdGSDY5TzZjUFItTUJXWDFuN0tHTjdWT3FXVVFqdF96UjR4bzVNakUiLCJ0eXAiOiJKV1QifQ.eyJlYXRfcHJvZmlsZSI6InRhZzppZXRmLm9yZywyMDI2OnJhdHMvZWFyIzA0IiwiaWF0IjoxNzk2NjQ4MjMyLCJleHAiOjE3OTY2NDg1MzIsImVhcl92ZXJpZmllcl9pZCI6eyJkZXZlbG9wZXIiOiJodHRwczovL3NpbWF0dGVzdC5kZXYiLCJidWlsZCI6InNpbWF0dGVzdCAwLjEuMCJ9LCJlYXRfbm9uY2UiOiJmemRyNVN5dEdmMXFHV2oxdGtWbHpqMFJNeEsyZkZSTHEtZlVsOFFnZElVIiwic3VibW9kcyI6eyJtZSI6eyJlYXJfc3RhdHVzIjoiY29udHJhaW5kaWNhdGVkIiwiZWFyX3RydXN0d29ydGhpbmVzc192ZWN0b3IiOnsiaW5zdGFuY2UtaWRlbnRpdHkiOjk2LCJzb3VyY2VkLWRhdGEiOjJ9LCJlYXJfYXBwcmFpc2FsX3BvbGljeV9pZHMiOlsicG9saWN5OnNpbWF0dGVzdC9jaGVja291dC92MSJdfSwidXNpbSI6eyJlYXJfc3RhdHVzIjoiY29udHJhaW5kaWNhdGVkIiwiZWFyX3RydXN0d29ydGhpbmVzc192ZWN0b3IiOnsiaW5zdGFuY2UtaWRlbnRpdHkiOjk2LCJoYXJkd2FyZSI6MCwiY29uZmlndXJhdGlvbiI6OTZ9LCJlYXJfYXBwcmFpc2FsX3BvbGljeV9pZHMiOlsicG9saWN5OnNpbWF0dGVzdC9jaGVja291dC92MSJdfSwicGFpcmluZyI6eyJlYXJfc3RhdHVzIjoiY29udHJhaW5kaWNhdGVkIiwiZWFyX3RydXN0d29ydGhpbmVzc192ZWN0b3IiOnsiaW5zdGFuY2UtaWRlbnRpdHkiOjk2fSwiZWFyX2FwcHJhaXNhbF9wb2xpY3lfaWRzIjpbInBvbGljeTpzaW1hdHRlc3QvY2hlY2tvdXQvdjEiXX19LCJzaW1hdHRlc3RfcmVhc29ucyI6WyJNRV9VTktOT1dOIiwiQ09NTUVSQ0lBTF9TSU0iXX0.qR1PSdn_moIoEaqyWD2WSZGpN6YZvKWmj94lidrJuLIcrE1bfy_uS2xtD4Ur0IQJRaf9J2IL_aJRQXSHJIY-EQ	\N
a9f27d65112e7a415dd37a1c5bfe9ae7	356938035640037	3	3	usim	\\x813c78ca51b88af1bf2f22b23aa15afc	PW6wVPH63SkqDNksUopg4-bswjFqZpcnWNT9Mz95L80	127.0.0.1	2026-12-07 12:57:12.39389+00	2026-12-07 12:58:12.39389+00	pending	\N	\N	\N	\N	\N	\N	\N	\N
\.


--
-- Data for Name: audit_entries; Type: TABLE DATA; Schema: public; Owner: -
--

COPY public.audit_entries (seq, at, actor, action, subject, details, prev_hash, hash) FROM stdin;
1	2026-12-07 12:57:12.142248+00	make_release_fixture	operator.create	operator:1	{"label":"fixture admin","role":"admin"}	\\x0000000000000000000000000000000000000000000000000000000000000000	\\xd09d584af165547086707a81299753636fdc2760bff0c75c085c33f7c563fd0c
2	2026-12-07 12:57:12.144457+00	make_release_fixture	operator.create	operator:2	{"label":"fixture provisioner","role":"provisioner"}	\\xd09d584af165547086707a81299753636fdc2760bff0c75c085c33f7c563fd0c	\\xe7634b51846bb9f62b4e8b90c55539b859e56e14aabee0ed36ef0c772bf56001
3	2026-12-07 12:57:12.145645+00	make_release_fixture	operator.create	operator:3	{"label":"fixture desk","role":"desk"}	\\xe7634b51846bb9f62b4e8b90c55539b859e56e14aabee0ed36ef0c772bf56001	\\xe1e60706dd4a07c03dd9e3979532830b350f5da2a9b5cca930c94e6b24f6ca29
4	2026-12-07 12:57:12.166244+00	make_release_fixture	pool.import	batch:fixture-batch.out	{"format":"vendor-out","imported":4,"partial":false,"rejected":0,"rows":4,"sha256":"a1eb8ad597d2fccd13248c101f8c56df6e601b04987f60562b3779dc9fc0b470"}	\\xe1e60706dd4a07c03dd9e3979532830b350f5da2a9b5cca930c94e6b24f6ca29	\\x685c8b479d6e211495119bb08c73c110e24bf7a0af8442cc6d6cba4af04c2f6a
5	2026-12-07 12:57:12.171404+00	make_release_fixture	handset.add	imei:356938035640011	{"imeisv":null,"key_algorithm":"ed25519","label":"unit 001"}	\\x685c8b479d6e211495119bb08c73c110e24bf7a0af8442cc6d6cba4af04c2f6a	\\xcee21104bd0103c787aeeea2390b4c9706a4ec1e2c0f22efbc5233c34b30fae0
6	2026-12-07 12:57:12.185627+00	make_release_fixture	pairing.create	imei:356938035640011	{"iccid":"8900101000000000019","pairing_id":1}	\\xcee21104bd0103c787aeeea2390b4c9706a4ec1e2c0f22efbc5233c34b30fae0	\\x2a321858bcee7a951d123276dd44160b74bd075212423982a6d501aab239eba5
7	2026-12-07 12:57:12.189461+00	make_release_fixture	handset.add	imei:356938035640029	{"imeisv":null,"key_algorithm":"ed25519","label":"unit 002"}	\\x2a321858bcee7a951d123276dd44160b74bd075212423982a6d501aab239eba5	\\xa366fbeb435be9e5982142c21357857af66352a613e3279644f0bcc39fff2cd3
8	2026-12-07 12:57:12.197093+00	make_release_fixture	pairing.create	imei:356938035640029	{"iccid":"8900101000000000027","pairing_id":2}	\\xa366fbeb435be9e5982142c21357857af66352a613e3279644f0bcc39fff2cd3	\\x4f82dea1723204b5bfcfcb5a35220de668c79176eb170bea1c90656dd76ea8bf
9	2026-12-07 12:57:12.199912+00	make_release_fixture	handset.add	imei:356938035640037	{"imeisv":null,"key_algorithm":"ed25519","label":"unit 003"}	\\x4f82dea1723204b5bfcfcb5a35220de668c79176eb170bea1c90656dd76ea8bf	\\xefaec57e87374b8f1155a7288b95d6432858a2ccb8ed295ac15b6bb7124a83bb
10	2026-12-07 12:57:12.204748+00	make_release_fixture	pairing.create	imei:356938035640037	{"iccid":"8900101000000000035","pairing_id":3}	\\xefaec57e87374b8f1155a7288b95d6432858a2ccb8ed295ac15b6bb7124a83bb	\\x4fc253c98e0905625741c66c44583e627d41fa73b60ef1b8a4c6a477fa07b35a
11	2026-12-07 12:57:12.207167+00	make_release_fixture	handset.add	imei:356938035640052	{"imeisv":null,"key_algorithm":"ed25519","label":"unit 005"}	\\x4fc253c98e0905625741c66c44583e627d41fa73b60ef1b8a4c6a477fa07b35a	\\xaa1d4d8661d3e8f398555bb53346be0f50e704ddc439f845c140371706f99703
12	2026-12-07 12:57:12.212109+00	make_release_fixture	pairing.create	imei:356938035640052	{"iccid":"8900101000000000050","pairing_id":4}	\\xaa1d4d8661d3e8f398555bb53346be0f50e704ddc439f845c140371706f99703	\\x7952ee86a5d26681c3b859cab70de8c1055338ff8d45564895cd437cb88f9d04
13	2026-12-07 12:57:12.223114+00	make_release_fixture	pairing.end	imei:356938035640052	{"iccid":"8900101000000000050","pairing_id":4}	\\x7952ee86a5d26681c3b859cab70de8c1055338ff8d45564895cd437cb88f9d04	\\x63d00e07c573a221619e4f7641268cf6bad7cf07ec87e543d744db1fd165e8dc
14	2026-12-07 12:57:12.232968+00	make_release_fixture	card.verified	iccid:8900101000000000019	{"reason":"self-check AKA passed"}	\\x63d00e07c573a221619e4f7641268cf6bad7cf07ec87e543d744db1fd165e8dc	\\x96baef48bf8d7f3c8e007c621e77b9be0620b7ad6ceaef11df5ea316333809fe
15	2026-12-07 12:57:12.240373+00	make_release_fixture	card.verified	iccid:8900101000000000027	{"reason":"self-check AKA passed"}	\\x96baef48bf8d7f3c8e007c621e77b9be0620b7ad6ceaef11df5ea316333809fe	\\x4fcc24e7f45b723c59642e971b44ccd0e25bf0feae8de4b984985e1272241fb4
16	2026-12-07 12:57:12.284555+00	handset:356938035640011	attestation	attestation:96cf7c3cb44ee9d1f5987f34e4da7535	{"iccid":"8900101000000000019","imei":"356938035640011","reasons":[],"status":"affirming"}	\\x4fcc24e7f45b723c59642e971b44ccd0e25bf0feae8de4b984985e1272241fb4	\\xa73014ee69bb2a99edd66a57c4e795abbb2ddd46147d5fe7e831cc0570a8f67d
17	2026-12-07 12:57:12.304516+00	handset:356938035640029	attestation	attestation:e3377c34df879c50e4114fda0bd459be	{"iccid":"8900101000000000027","imei":"356938035640029","reasons":[],"status":"affirming"}	\\xa73014ee69bb2a99edd66a57c4e795abbb2ddd46147d5fe7e831cc0570a8f67d	\\xf4634f15f8fffded6cc2ed7616ff891f4deb6e4d4bb485fef37faab7499a0741
18	2026-12-07 12:57:12.335546+00	handset:356938035640037	attestation.resync	attestation:a1937f6a37e558a526deed9bf2845fe5	{"iccid":"8900101000000000035","imei":"356938035640037","next":"e93441c7e6a4f1ee01bcfb37b58d77a8"}	\\xf4634f15f8fffded6cc2ed7616ff891f4deb6e4d4bb485fef37faab7499a0741	\\xb400a1ca4b1f727155515881f08c05a4faabfd13889ed7c5b5d60f38717f165b
19	2026-12-07 12:57:12.341218+00	handset:356938035640037	attestation	attestation:e93441c7e6a4f1ee01bcfb37b58d77a8	{"iccid":"8900101000000000035","imei":"356938035640037","reasons":[],"status":"affirming"}	\\xb400a1ca4b1f727155515881f08c05a4faabfd13889ed7c5b5d60f38717f165b	\\x2ab1c80113369bdea5f1d017c1d110cea4b7dc1d091064aae6b29d6b2a575df7
20	2026-12-07 12:57:12.36683+00	handset:356938035640011	attestation	attestation:de28882286a76db16b2379a5441a0260	{"iccid":"8999970000000000019","imei":"356938035640011","reasons":["COMMERCIAL_SIM"],"status":"contraindicated"}	\\x2ab1c80113369bdea5f1d017c1d110cea4b7dc1d091064aae6b29d6b2a575df7	\\x0f29b208898bd05c0337f5e023048b078710fc4ce0872dd834aa2cc4dd6652fe
21	2026-12-07 12:57:12.390522+00	client:127.0.0.1	attestation	attestation:9e5da5b0f87e66176f254ced093aaed8	{"iccid":"8999970000000000019","imei":"356938035640078","reasons":["ME_UNKNOWN","COMMERCIAL_SIM"],"status":"contraindicated"}	\\x0f29b208898bd05c0337f5e023048b078710fc4ce0872dd834aa2cc4dd6652fe	\\xca9f81aff68d21326d2b7e47ec8e24293e6848364332f329332201b6d454d268
22	2026-12-07 12:57:12.905848+00	make_release_fixture	checkout.start	imei:356938035640011	{"attestation_id":"96cf7c3cb44ee9d1f5987f34e4da7535","checkout_id":1,"iccid":"8900101000000000019","user":"officer 0001"}	\\xca9f81aff68d21326d2b7e47ec8e24293e6848364332f329332201b6d454d268	\\xfb30bf4d1ee0afb2728ed1344ad2cd9db97cd14f50758350b5eb7e991e47349e
23	2026-12-07 12:57:12.914207+00	make_release_fixture	checkout.return	imei:356938035640011	{"checkout_id":1,"user":"officer 0001"}	\\xfb30bf4d1ee0afb2728ed1344ad2cd9db97cd14f50758350b5eb7e991e47349e	\\xa1d17fee18c04c3257572708cf4ad611e58ff0b7566b30fa8ea05182196bc626
24	2026-12-07 12:57:12.923237+00	make_release_fixture	checkout.start	imei:356938035640029	{"attestation_id":"e3377c34df879c50e4114fda0bd459be","checkout_id":2,"iccid":"8900101000000000027","user":"officer 0002"}	\\xa1d17fee18c04c3257572708cf4ad611e58ff0b7566b30fa8ea05182196bc626	\\xee9b4a50f0852f9795fd46d972d587e06f4739e4ff510f05e06930f715e78f3d
\.


--
-- Data for Name: audit_head; Type: TABLE DATA; Schema: public; Owner: -
--

COPY public.audit_head (id, seq, hash, prev_hash) FROM stdin;
1	24	\\xee9b4a50f0852f9795fd46d972d587e06f4739e4ff510f05e06930f715e78f3d	\\xa1d17fee18c04c3257572708cf4ad611e58ff0b7566b30fa8ea05182196bc626
\.


--
-- Data for Name: cards; Type: TABLE DATA; Schema: public; Owner: -
--

COPY public.cards (id, iccid, imsi, profile, algorithm, k_enc, opc_enc, pin1_enc, puk1_enc, adm1_enc, impi, impu, batch, imported_at, verification, verified_at, verification_reason, sqn_seq) FROM stdin;
4	8900101000000000050	001010000000005	\N	milenage	\\x4bb09324c52c2807320698151970d21f6c7975666139f75a135516cca647123f622e6b7e24508eb1356b6a4c	\\x536f685c3c3fab73c3d385bad2aa3dfb25089183124f90c2bc471fa6866872b14b62914936ad8d344e90e523	\\xd951f0ef75c27d09f561bda9bebee10beffa12e53df265f4a7f0aea976acdd68	\\x4fa65a3e84f45abc7b7dc4e48ba3d7d8e39d6d78068e6b5710124f8600b264d215bfcfeb	\N	\N	\N	fixture-batch.out	2026-12-07 12:57:12.161981+00	unverified	\N	\N	0
2	8900101000000000027	001010000000002	\N	milenage	\\x5f450deee4955f27713f636bae76272628708522709931071243386bd7e898b72be74880bf00049354ac7b35	\\x1d2618cb4ca410461d38042c3b36a9e96d80203e1f20baf75f7f872b77c4bbebe03df8287b55b7f6993f533f	\\x0ea608d3ec3547b8992993895563cdaec469d8a5506245e6fed4e320452827f2	\\xbd7a45ffa1396f4874179d16a16807cb15be82174ba52a31b7838f4a36c6063feff8322b	\N	\N	\N	fixture-batch.out	2026-12-07 12:57:12.161981+00	verified	2026-12-07 12:57:12.239654+00	self-check AKA passed	2
1	8900101000000000019	001010000000001	\N	milenage	\\x4b50ea5626985038ea6f33a90eb868a08ee839ad4375f43299442ac232e637c4756fbe18faf62e66c3741ee8	\\x9aeb0b13865b3b00f0f607fbadd52995f430711dd7e0114fc579f49c3bbb6b7c45366984a529f7843bcbcfe4	\\x4a8572378eae88a7bc8c8deacad316616bfc97b344a135b9f3c29db4b2a63c2a	\\x5e33ffa88b12cf8f14f9b5fa18de7361c7fbd91f8b7c6e8f7345d618702875d33f59479a	\N	\N	\N	fixture-batch.out	2026-12-07 12:57:12.161981+00	verified	2026-12-07 12:57:12.231608+00	self-check AKA passed	3
3	8900101000000000035	001010000000003	\N	milenage	\\x0b38b1a86895ee3d1da814c4d938add60fcb0d6d947b8fbbbab5fe25df13cd361fb2a0bf691c22b66d908b7b	\\x5a4d9cc96f085ad2bf204e6abe2cddeeef3f7c7092283f9d66d2cffe99560408be045b4b6503acb0eaf096ac	\\xcbc1faf104218826ee12e0dda3662e80b4d8b3e1c4758ac63964fca6536cf4dd	\\xea41dd280993e99f999fb216b2458b0343b1cd402332ceff83768b8b3a36570b13a74ded	\N	\N	\N	fixture-batch.out	2026-12-07 12:57:12.161981+00	unverified	\N	\N	9002
\.


--
-- Data for Name: checkouts; Type: TABLE DATA; Schema: public; Owner: -
--

COPY public.checkouts (id, attestation_id, handset_id, card_id, "user", started_at, started_by, returned_at, returned_by) FROM stdin;
1	96cf7c3cb44ee9d1f5987f34e4da7535	1	1	officer 0001	2026-12-07 12:57:12.903201+00	make_release_fixture	2026-12-07 12:57:12.90688+00	make_release_fixture
2	e3377c34df879c50e4114fda0bd459be	2	2	officer 0002	2026-12-07 12:57:12.922194+00	make_release_fixture	\N	\N
\.


--
-- Data for Name: handsets; Type: TABLE DATA; Schema: public; Owner: -
--

COPY public.handsets (id, imei, imeisv, label, public_key_pem, key_algorithm, created_at) FROM stdin;
1	356938035640011	\N	unit 001	-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEAnSyyAbGJ6pKJmE8AL+M9awdeFOfjKhODts/pPE48gYU=\n-----END PUBLIC KEY-----\n	ed25519	2026-12-07 12:57:12.170685+00
2	356938035640029	\N	unit 002	-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEAuS17QQZ74arySC15U5DWGcmvsaATru4C2tCCNMr6FWk=\n-----END PUBLIC KEY-----\n	ed25519	2026-12-07 12:57:12.188381+00
3	356938035640037	\N	unit 003	-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEAS6lqheZ7f0lwYJst6nOx0/nPnalKuSECMXugGDJFJpU=\n-----END PUBLIC KEY-----\n	ed25519	2026-12-07 12:57:12.199544+00
4	356938035640052	\N	unit 005	-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEAjUHLpzFYY1hXrfxaoXpcOo5Bhg7vP+qniC2UiVtZDaI=\n-----END PUBLIC KEY-----\n	ed25519	2026-12-07 12:57:12.206835+00
\.


--
-- Data for Name: operators; Type: TABLE DATA; Schema: public; Owner: -
--

COPY public.operators (id, token_hash, role, label, created_at, revoked_at) FROM stdin;
1	\\x87f3170b6c8888a180d28fbaabaf66bdf998fdbb1ac415253f10b0f0b21279a2	admin	fixture admin	2026-12-07 12:57:12.141352+00	\N
2	\\xed235d462e773896946fc1a003b0f080b3d991597cde8f4a28c6ca06f7793a80	provisioner	fixture provisioner	2026-12-07 12:57:12.144052+00	\N
3	\\xa9ae19451ceda21663b011a3ccd9c393171338c56b5513c4aae659984856b3c8	desk	fixture desk	2026-12-07 12:57:12.145284+00	\N
\.


--
-- Data for Name: pairings; Type: TABLE DATA; Schema: public; Owner: -
--

COPY public.pairings (id, handset_id, card_id, created_at, ended_at) FROM stdin;
1	1	1	2026-12-07 12:57:12.184565+00	\N
2	2	2	2026-12-07 12:57:12.195291+00	\N
3	3	3	2026-12-07 12:57:12.204223+00	\N
4	4	4	2026-12-07 12:57:12.211521+00	2026-12-07 12:57:12.218137+00
\.


--
-- Data for Name: rate_counters; Type: TABLE DATA; Schema: public; Owner: -
--

COPY public.rate_counters (key, "window", count) FROM stdin;
client:127.0.0.1	29944137	37
imei:356938035640029	29944137	2
imei:356938035640011	29944137	4
imei:356938035640078	29944137	2
imei:356938035640037	29944137	4
\.


--
-- Data for Name: service_meta; Type: TABLE DATA; Schema: public; Owner: -
--

COPY public.service_meta (name, value) FROM stdin;
kek_check	\\x0bca2b2483adee43075b50a7b1a310235f0c1e895bf96f007e4215cfe80856e3
ear_signing_kid	\\x30715157464836394f366350522d4d425758316e374b474e37564f715755516a745f7a5234786f354d6a45
\.


--
-- Name: audit_head_id_seq; Type: SEQUENCE SET; Schema: public; Owner: -
--

SELECT pg_catalog.setval('public.audit_head_id_seq', 1, false);


--
-- Name: cards_id_seq; Type: SEQUENCE SET; Schema: public; Owner: -
--

SELECT pg_catalog.setval('public.cards_id_seq', 4, true);


--
-- Name: checkouts_id_seq; Type: SEQUENCE SET; Schema: public; Owner: -
--

SELECT pg_catalog.setval('public.checkouts_id_seq', 2, true);


--
-- Name: handsets_id_seq; Type: SEQUENCE SET; Schema: public; Owner: -
--

SELECT pg_catalog.setval('public.handsets_id_seq', 4, true);


--
-- Name: operators_id_seq; Type: SEQUENCE SET; Schema: public; Owner: -
--

SELECT pg_catalog.setval('public.operators_id_seq', 3, true);


--
-- Name: pairings_id_seq; Type: SEQUENCE SET; Schema: public; Owner: -
--

SELECT pg_catalog.setval('public.pairings_id_seq', 4, true);


--
-- Name: alembic_version alembic_version_pkc; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.alembic_version
    ADD CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num);


--
-- Name: attestations attestations_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.attestations
    ADD CONSTRAINT attestations_pkey PRIMARY KEY (id);


--
-- Name: audit_entries audit_entries_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.audit_entries
    ADD CONSTRAINT audit_entries_pkey PRIMARY KEY (seq);


--
-- Name: audit_head audit_head_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.audit_head
    ADD CONSTRAINT audit_head_pkey PRIMARY KEY (id);


--
-- Name: cards cards_iccid_key; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.cards
    ADD CONSTRAINT cards_iccid_key UNIQUE (iccid);


--
-- Name: cards cards_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.cards
    ADD CONSTRAINT cards_pkey PRIMARY KEY (id);


--
-- Name: checkouts checkouts_attestation_id_key; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.checkouts
    ADD CONSTRAINT checkouts_attestation_id_key UNIQUE (attestation_id);


--
-- Name: checkouts checkouts_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.checkouts
    ADD CONSTRAINT checkouts_pkey PRIMARY KEY (id);


--
-- Name: handsets handsets_imei_key; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.handsets
    ADD CONSTRAINT handsets_imei_key UNIQUE (imei);


--
-- Name: handsets handsets_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.handsets
    ADD CONSTRAINT handsets_pkey PRIMARY KEY (id);


--
-- Name: operators operators_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.operators
    ADD CONSTRAINT operators_pkey PRIMARY KEY (id);


--
-- Name: operators operators_token_hash_key; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.operators
    ADD CONSTRAINT operators_token_hash_key UNIQUE (token_hash);


--
-- Name: pairings pairings_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.pairings
    ADD CONSTRAINT pairings_pkey PRIMARY KEY (id);


--
-- Name: rate_counters rate_counters_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.rate_counters
    ADD CONSTRAINT rate_counters_pkey PRIMARY KEY (key);


--
-- Name: service_meta service_meta_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.service_meta
    ADD CONSTRAINT service_meta_pkey PRIMARY KEY (name);


--
-- Name: ix_attestations_alerts; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX ix_attestations_alerts ON public.attestations USING btree (appraised_at) WHERE ((status)::text = 'contraindicated'::text);


--
-- Name: ix_attestations_imei_appraised; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX ix_attestations_imei_appraised ON public.attestations USING btree (imei, appraised_at);


--
-- Name: ix_audit_entries_subject; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX ix_audit_entries_subject ON public.audit_entries USING btree (subject);


--
-- Name: ix_cards_imsi; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX ix_cards_imsi ON public.cards USING btree (imsi);


--
-- Name: ix_handsets_label; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX ix_handsets_label ON public.handsets USING btree (label);


--
-- Name: uq_checkouts_active_handset; Type: INDEX; Schema: public; Owner: -
--

CREATE UNIQUE INDEX uq_checkouts_active_handset ON public.checkouts USING btree (handset_id) WHERE (returned_at IS NULL);


--
-- Name: uq_pairings_active_card; Type: INDEX; Schema: public; Owner: -
--

CREATE UNIQUE INDEX uq_pairings_active_card ON public.pairings USING btree (card_id) WHERE (ended_at IS NULL);


--
-- Name: uq_pairings_active_handset; Type: INDEX; Schema: public; Owner: -
--

CREATE UNIQUE INDEX uq_pairings_active_handset ON public.pairings USING btree (handset_id) WHERE (ended_at IS NULL);


--
-- Name: attestations attestations_card_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.attestations
    ADD CONSTRAINT attestations_card_id_fkey FOREIGN KEY (card_id) REFERENCES public.cards(id);


--
-- Name: attestations attestations_handset_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.attestations
    ADD CONSTRAINT attestations_handset_id_fkey FOREIGN KEY (handset_id) REFERENCES public.handsets(id);


--
-- Name: checkouts checkouts_attestation_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.checkouts
    ADD CONSTRAINT checkouts_attestation_id_fkey FOREIGN KEY (attestation_id) REFERENCES public.attestations(id);


--
-- Name: checkouts checkouts_card_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.checkouts
    ADD CONSTRAINT checkouts_card_id_fkey FOREIGN KEY (card_id) REFERENCES public.cards(id);


--
-- Name: checkouts checkouts_handset_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.checkouts
    ADD CONSTRAINT checkouts_handset_id_fkey FOREIGN KEY (handset_id) REFERENCES public.handsets(id);


--
-- Name: pairings pairings_card_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.pairings
    ADD CONSTRAINT pairings_card_id_fkey FOREIGN KEY (card_id) REFERENCES public.cards(id);


--
-- Name: pairings pairings_handset_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.pairings
    ADD CONSTRAINT pairings_handset_id_fkey FOREIGN KEY (handset_id) REFERENCES public.handsets(id);


--
-- PostgreSQL database dump complete
--

\unrestrict lDSWrcpBcQa63nTySmhwK3Tpcnq9Oj57UeJKeSZGepwtb8RoEq5etFEmYsp9QYb

