--
-- PostgreSQL database dump
--

\restrict kkTnjnVR05tpIMA1RScppLMuICaUOTgVnUW1uGkEzPlwcAE4rclXqMJj3ZygiGZ

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
79a110743c0139bc395cea50fa2d1ece	356938035640011	1	1	usim	\\x83cb726b979f9062146234f8b69eb9bc	lce6u694B59OtMerjfnyH78oiR702c_xSwno9oTvRe8	127.0.0.1	2026-12-07 12:52:26.493908+00	2026-12-07 12:53:26.493908+00	consumed	2026-12-07 12:52:26.509793+00	affirming	[]	8900101000000000019	001010000000001	{"attestation_id":"79a110743c0139bc395cea50fa2d1ece","nonce":"lce6u694B59OtMerjfnyH78oiR702c_xSwno9oTvRe8","imei":"356938035640011","imeisv":null,"iccid":"8900101000000000019","imsi":"001010000000001","mnc_length":2,"ust":[10,12,19,20,21,27,33,68,85,95,101,109],"prose":true,"isim":{"impi":"001010000000001@ims.mnc001.mcc001.3gppnetwork.org","impu":["sip:001010000000001@ims.mnc001.mcc001.3gppnetwork.org","tel:+15550100001","sip:unit-0001@mcptt.example.org"],"ist":[15]},"outcome":{"outcome":"success","res":"babc5600dc620b1f"}}	eyJhbGciOiJFUzI1NiIsImtpZCI6Im9HRnViLWlVa2JWcVR0dnBPUVRTSnJ4OEoxWHg3TzVDOUY3WmJhR2Z6MTgiLCJ0eXAiOiJKV1QifQ.eyJlYXRfcHJvZmlsZSI6InRhZzppZXRmLm9yZywyMDI2OnJhdHMvZWFyIzA0IiwiaWF0IjoxNzk2NjQ3OTQ2LCJleHAiOjE3OTY2NDgyNDYsImVhcl92ZXJpZmllcl9pZCI6eyJkZXZlbG9wZXIiOiJodHRwczovL3NpbWF0dGVzdC5kZXYiLCJidWlsZCI6InNpbWF0dGVzdCAwLjEuMCJ9LCJlYXRfbm9uY2UiOiJsY2U2dTY5NEI1OU90TWVyamZueUg3OG9pUjcwMmNfeFN3bm85b1R2UmU4Iiwic3VibW9kcyI6eyJtZSI6eyJlYXJfc3RhdHVzIjoiYWZmaXJtaW5nIiwiZWFyX3RydXN0d29ydGhpbmVzc192ZWN0b3IiOnsiaW5zdGFuY2UtaWRlbnRpdHkiOjIsInNvdXJjZWQtZGF0YSI6Mn0sImVhcl9hcHByYWlzYWxfcG9saWN5X2lkcyI6WyJwb2xpY3k6c2ltYXR0ZXN0L2NoZWNrb3V0L3YxIl19LCJ1c2ltIjp7ImVhcl9zdGF0dXMiOiJhZmZpcm1pbmciLCJlYXJfdHJ1c3R3b3J0aGluZXNzX3ZlY3RvciI6eyJpbnN0YW5jZS1pZGVudGl0eSI6MiwiaGFyZHdhcmUiOjIsImNvbmZpZ3VyYXRpb24iOjJ9LCJlYXJfYXBwcmFpc2FsX3BvbGljeV9pZHMiOlsicG9saWN5OnNpbWF0dGVzdC9jaGVja291dC92MSJdfSwicGFpcmluZyI6eyJlYXJfc3RhdHVzIjoiYWZmaXJtaW5nIiwiZWFyX3RydXN0d29ydGhpbmVzc192ZWN0b3IiOnsiaW5zdGFuY2UtaWRlbnRpdHkiOjJ9LCJlYXJfYXBwcmFpc2FsX3BvbGljeV9pZHMiOlsicG9saWN5OnNpbWF0dGVzdC9jaGVja291dC92MSJdfX0sInNpbWF0dGVzdF9yZWFzb25zIjpbXX0.xGBiTuyGoZOSdyFZZF_o-GNyAzUhY6wrtRqHqrvM17_nw4lTgdpAWUM5O2_J5tu3pXwm0-qPvmkkN4jUD71ALQ	\N
2918cfb2ecad4ac649f488c2f58a4ac6	356938035640029	2	2	usim	\\x503ea1ff71a8ac57f682e448fe1423cd	RPd8i9a0SmcqujZ7VkGZTOP-HgMkAD3tIt_nB8G3knk	127.0.0.1	2026-12-07 12:52:26.524519+00	2026-12-07 12:53:26.524519+00	consumed	2026-12-07 12:52:26.531688+00	affirming	[]	8900101000000000027	001010000000002	{"attestation_id":"2918cfb2ecad4ac649f488c2f58a4ac6","nonce":"RPd8i9a0SmcqujZ7VkGZTOP-HgMkAD3tIt_nB8G3knk","imei":"356938035640029","imeisv":null,"iccid":"8900101000000000027","imsi":"001010000000002","mnc_length":2,"ust":[10,12,19,20,21,27,33,68,85,95,101,109],"prose":true,"isim":{"impi":"001010000000002@ims.mnc001.mcc001.3gppnetwork.org","impu":["sip:001010000000002@ims.mnc001.mcc001.3gppnetwork.org","tel:+15550100002"],"ist":[15]},"outcome":{"outcome":"success","res":"bbe91ada61237b78"}}	eyJhbGciOiJFUzI1NiIsImtpZCI6Im9HRnViLWlVa2JWcVR0dnBPUVRTSnJ4OEoxWHg3TzVDOUY3WmJhR2Z6MTgiLCJ0eXAiOiJKV1QifQ.eyJlYXRfcHJvZmlsZSI6InRhZzppZXRmLm9yZywyMDI2OnJhdHMvZWFyIzA0IiwiaWF0IjoxNzk2NjQ3OTQ2LCJleHAiOjE3OTY2NDgyNDYsImVhcl92ZXJpZmllcl9pZCI6eyJkZXZlbG9wZXIiOiJodHRwczovL3NpbWF0dGVzdC5kZXYiLCJidWlsZCI6InNpbWF0dGVzdCAwLjEuMCJ9LCJlYXRfbm9uY2UiOiJSUGQ4aTlhMFNtY3F1alo3VmtHWlRPUC1IZ01rQUQzdEl0X25COEcza25rIiwic3VibW9kcyI6eyJtZSI6eyJlYXJfc3RhdHVzIjoiYWZmaXJtaW5nIiwiZWFyX3RydXN0d29ydGhpbmVzc192ZWN0b3IiOnsiaW5zdGFuY2UtaWRlbnRpdHkiOjIsInNvdXJjZWQtZGF0YSI6Mn0sImVhcl9hcHByYWlzYWxfcG9saWN5X2lkcyI6WyJwb2xpY3k6c2ltYXR0ZXN0L2NoZWNrb3V0L3YxIl19LCJ1c2ltIjp7ImVhcl9zdGF0dXMiOiJhZmZpcm1pbmciLCJlYXJfdHJ1c3R3b3J0aGluZXNzX3ZlY3RvciI6eyJpbnN0YW5jZS1pZGVudGl0eSI6MiwiaGFyZHdhcmUiOjIsImNvbmZpZ3VyYXRpb24iOjJ9LCJlYXJfYXBwcmFpc2FsX3BvbGljeV9pZHMiOlsicG9saWN5OnNpbWF0dGVzdC9jaGVja291dC92MSJdfSwicGFpcmluZyI6eyJlYXJfc3RhdHVzIjoiYWZmaXJtaW5nIiwiZWFyX3RydXN0d29ydGhpbmVzc192ZWN0b3IiOnsiaW5zdGFuY2UtaWRlbnRpdHkiOjJ9LCJlYXJfYXBwcmFpc2FsX3BvbGljeV9pZHMiOlsicG9saWN5OnNpbWF0dGVzdC9jaGVja291dC92MSJdfX0sInNpbWF0dGVzdF9yZWFzb25zIjpbXX0.95MZm4WKYuT1oGFUulp6ZCep0hmuwBrmzuGJIsqHRBU_YUPu68QxLK0x2OoJD76GgC-VU67k_3ZbPOwTN2ljhg	\N
5853b0a2f669780b3cb4991f4373db0e	356938035640037	3	3	usim	\\xed2f8b42c5182766fb950e0bce3cf181	xCR2ycaWCRQhGqaWkrb7kMi-lBqZHX4PEHUdbpScqjc	127.0.0.1	2026-12-07 12:52:26.542403+00	2026-12-07 12:53:26.542403+00	consumed	2026-12-07 12:52:26.547787+00	resync	[]	8900101000000000035	001010000000003	{"attestation_id":"5853b0a2f669780b3cb4991f4373db0e","nonce":"xCR2ycaWCRQhGqaWkrb7kMi-lBqZHX4PEHUdbpScqjc","imei":"356938035640037","imeisv":null,"iccid":"8900101000000000035","imsi":"001010000000003","mnc_length":2,"ust":[10,12,19,20,21,27,33,68,85,95,101,109],"prose":true,"isim":{"impi":"001010000000003@ims.mnc001.mcc001.3gppnetwork.org","impu":["sip:001010000000003@ims.mnc001.mcc001.3gppnetwork.org"],"ist":[15]},"outcome":{"outcome":"sync_failure","auts":"5ba828ae4d78719a14b4f9597a7d"}}	\N	bb66ee54a27aa71f25e018dfe4157459
bb66ee54a27aa71f25e018dfe4157459	356938035640037	3	3	usim	\\x31d22f70cf902036cf16cd6f47c610ea	djEJhGX48KQTVDkT1yXH2Hb2o5jFHgnr3sWjyfh3n8E	127.0.0.1	2026-12-07 12:52:26.556838+00	2026-12-07 12:53:26.556838+00	consumed	2026-12-07 12:52:26.565725+00	affirming	[]	8900101000000000035	001010000000003	{"attestation_id":"bb66ee54a27aa71f25e018dfe4157459","nonce":"djEJhGX48KQTVDkT1yXH2Hb2o5jFHgnr3sWjyfh3n8E","imei":"356938035640037","imeisv":null,"iccid":"8900101000000000035","imsi":"001010000000003","mnc_length":2,"ust":[10,12,19,20,21,27,33,68,85,95,101,109],"prose":true,"isim":{"impi":"001010000000003@ims.mnc001.mcc001.3gppnetwork.org","impu":["sip:001010000000003@ims.mnc001.mcc001.3gppnetwork.org"],"ist":[15]},"outcome":{"outcome":"success","res":"dc497435084b21c0"}}	eyJhbGciOiJFUzI1NiIsImtpZCI6Im9HRnViLWlVa2JWcVR0dnBPUVRTSnJ4OEoxWHg3TzVDOUY3WmJhR2Z6MTgiLCJ0eXAiOiJKV1QifQ.eyJlYXRfcHJvZmlsZSI6InRhZzppZXRmLm9yZywyMDI2OnJhdHMvZWFyIzA0IiwiaWF0IjoxNzk2NjQ3OTQ2LCJleHAiOjE3OTY2NDgyNDYsImVhcl92ZXJpZmllcl9pZCI6eyJkZXZlbG9wZXIiOiJodHRwczovL3NpbWF0dGVzdC5kZXYiLCJidWlsZCI6InNpbWF0dGVzdCAwLjEuMCJ9LCJlYXRfbm9uY2UiOiJkakVKaEdYNDhLUVRWRGtUMXlYSDJIYjJvNWpGSGducjNzV2p5ZmgzbjhFIiwic3VibW9kcyI6eyJtZSI6eyJlYXJfc3RhdHVzIjoiYWZmaXJtaW5nIiwiZWFyX3RydXN0d29ydGhpbmVzc192ZWN0b3IiOnsiaW5zdGFuY2UtaWRlbnRpdHkiOjIsInNvdXJjZWQtZGF0YSI6Mn0sImVhcl9hcHByYWlzYWxfcG9saWN5X2lkcyI6WyJwb2xpY3k6c2ltYXR0ZXN0L2NoZWNrb3V0L3YxIl19LCJ1c2ltIjp7ImVhcl9zdGF0dXMiOiJhZmZpcm1pbmciLCJlYXJfdHJ1c3R3b3J0aGluZXNzX3ZlY3RvciI6eyJpbnN0YW5jZS1pZGVudGl0eSI6MiwiaGFyZHdhcmUiOjIsImNvbmZpZ3VyYXRpb24iOjJ9LCJlYXJfYXBwcmFpc2FsX3BvbGljeV9pZHMiOlsicG9saWN5OnNpbWF0dGVzdC9jaGVja291dC92MSJdfSwicGFpcmluZyI6eyJlYXJfc3RhdHVzIjoiYWZmaXJtaW5nIiwiZWFyX3RydXN0d29ydGhpbmVzc192ZWN0b3IiOnsiaW5zdGFuY2UtaWRlbnRpdHkiOjJ9LCJlYXJfYXBwcmFpc2FsX3BvbGljeV9pZHMiOlsicG9saWN5OnNpbWF0dGVzdC9jaGVja291dC92MSJdfX0sInNpbWF0dGVzdF9yZWFzb25zIjpbXX0.fzbbAu52cQHGpOSL_ztSO1MRs7EsODDLqYrGvE3qf6PbP5216Pt_UvBd6HVKYshw_Ee1GgCIb92zwUeOYwLlIg	\N
48d951d7a88d3a35a69e17f5853c7713	356938035640011	1	1	usim	\\xf615786b495eb7ac5346fab3d5cb650c	jARsi8iNRvS0l_jzyGucxzKzYjycCR123xdZiMUkjuU	127.0.0.1	2026-12-07 12:52:26.580602+00	2026-12-07 12:53:26.580602+00	consumed	2026-12-07 12:52:26.586848+00	contraindicated	["COMMERCIAL_SIM"]	8999970000000000019	999700000000001	{"attestation_id":"48d951d7a88d3a35a69e17f5853c7713","nonce":"jARsi8iNRvS0l_jzyGucxzKzYjycCR123xdZiMUkjuU","imei":"356938035640011","imeisv":null,"iccid":"8999970000000000019","imsi":"999700000000001","mnc_length":2,"ust":[10,12,19,20,21,27,33,85],"prose":false,"isim":null,"outcome":{"outcome":"mac_failure"}}	eyJhbGciOiJFUzI1NiIsImtpZCI6Im9HRnViLWlVa2JWcVR0dnBPUVRTSnJ4OEoxWHg3TzVDOUY3WmJhR2Z6MTgiLCJ0eXAiOiJKV1QifQ.eyJlYXRfcHJvZmlsZSI6InRhZzppZXRmLm9yZywyMDI2OnJhdHMvZWFyIzA0IiwiaWF0IjoxNzk2NjQ3OTQ2LCJleHAiOjE3OTY2NDgyNDYsImVhcl92ZXJpZmllcl9pZCI6eyJkZXZlbG9wZXIiOiJodHRwczovL3NpbWF0dGVzdC5kZXYiLCJidWlsZCI6InNpbWF0dGVzdCAwLjEuMCJ9LCJlYXRfbm9uY2UiOiJqQVJzaThpTlJ2UzBsX2p6eUd1Y3h6S3pZanljQ1IxMjN4ZFppTVVranVVIiwic3VibW9kcyI6eyJtZSI6eyJlYXJfc3RhdHVzIjoiYWZmaXJtaW5nIiwiZWFyX3RydXN0d29ydGhpbmVzc192ZWN0b3IiOnsiaW5zdGFuY2UtaWRlbnRpdHkiOjIsInNvdXJjZWQtZGF0YSI6Mn0sImVhcl9hcHByYWlzYWxfcG9saWN5X2lkcyI6WyJwb2xpY3k6c2ltYXR0ZXN0L2NoZWNrb3V0L3YxIl19LCJ1c2ltIjp7ImVhcl9zdGF0dXMiOiJjb250cmFpbmRpY2F0ZWQiLCJlYXJfdHJ1c3R3b3J0aGluZXNzX3ZlY3RvciI6eyJpbnN0YW5jZS1pZGVudGl0eSI6OTYsImhhcmR3YXJlIjowLCJjb25maWd1cmF0aW9uIjo5Nn0sImVhcl9hcHByYWlzYWxfcG9saWN5X2lkcyI6WyJwb2xpY3k6c2ltYXR0ZXN0L2NoZWNrb3V0L3YxIl19LCJwYWlyaW5nIjp7ImVhcl9zdGF0dXMiOiJjb250cmFpbmRpY2F0ZWQiLCJlYXJfdHJ1c3R3b3J0aGluZXNzX3ZlY3RvciI6eyJpbnN0YW5jZS1pZGVudGl0eSI6OTZ9LCJlYXJfYXBwcmFpc2FsX3BvbGljeV9pZHMiOlsicG9saWN5OnNpbWF0dGVzdC9jaGVja291dC92MSJdfX0sInNpbWF0dGVzdF9yZWFzb25zIjpbIkNPTU1FUkNJQUxfU0lNIl19.fz0WtcwA4mdfttj3xqgw5tb06NyaHzC6gQATNpiw2JzHVQwfDmhmzBTEZmr8RsOmJdVW8LYxTqoEBVz9JhIWgw	\N
39ae0bc1e040805045ef2f565e12aa48	356938035640078	\N	\N	usim	\\xddf3c415a560d732513524397c51acc6	E4paJ30pzJlu3JJYYT3WDcCssVc12e-UkO6IIpW5bh4	127.0.0.1	2026-12-07 12:52:26.600077+00	2026-12-07 12:53:26.600077+00	consumed	2026-12-07 12:52:26.605045+00	contraindicated	["ME_UNKNOWN","COMMERCIAL_SIM"]	8999970000000000019	999700000000001	{"attestation_id":"39ae0bc1e040805045ef2f565e12aa48","nonce":"E4paJ30pzJlu3JJYYT3WDcCssVc12e-UkO6IIpW5bh4","imei":"356938035640078","imeisv":null,"iccid":"8999970000000000019","imsi":"999700000000001","mnc_length":2,"ust":[10,12,19,20,21,27,33,85],"prose":false,"isim":null,"outcome":{"outcome":"mac_failure"}}	eyJhbGciOiJFUzI1NiIsImtpZCI6Im9HRnViLWlVa2JWcVR0dnBPUVRTSnJ4OEoxWHg3TzVDOUY3WmJhR2Z6MTgiLCJ0eXAiOiJKV1QifQ.eyJlYXRfcHJvZmlsZSI6InRhZzppZXRmLm9yZywyMDI2OnJhdHMvZWFyIzA0IiwiaWF0IjoxNzk2NjQ3OTQ2LCJleHAiOjE3OTY2NDgyNDYsImVhcl92ZXJpZmllcl9pZCI6eyJkZXZlbG9wZXIiOiJodHRwczovL3NpbWF0dGVzdC5kZXYiLCJidWlsZCI6InNpbWF0dGVzdCAwLjEuMCJ9LCJlYXRfbm9uY2UiOiJFNHBhSjMwcHpKbHUzSkpZWVQzV0RjQ3NzVmMxMmUtVWtPNklJcFc1Ymg0Iiwic3VibW9kcyI6eyJtZSI6eyJlYXJfc3RhdHVzIjoiY29udHJhaW5kaWNhdGVkIiwiZWFyX3RydXN0d29ydGhpbmVzc192ZWN0b3IiOnsiaW5zdGFuY2UtaWRlbnRpdHkiOjk2LCJzb3VyY2VkLWRhdGEiOjJ9LCJlYXJfYXBwcmFpc2FsX3BvbGljeV9pZHMiOlsicG9saWN5OnNpbWF0dGVzdC9jaGVja291dC92MSJdfSwidXNpbSI6eyJlYXJfc3RhdHVzIjoiY29udHJhaW5kaWNhdGVkIiwiZWFyX3RydXN0d29ydGhpbmVzc192ZWN0b3IiOnsiaW5zdGFuY2UtaWRlbnRpdHkiOjk2LCJoYXJkd2FyZSI6MCwiY29uZmlndXJhdGlvbiI6OTZ9LCJlYXJfYXBwcmFpc2FsX3BvbGljeV9pZHMiOlsicG9saWN5OnNpbWF0dGVzdC9jaGVja291dC92MSJdfSwicGFpcmluZyI6eyJlYXJfc3RhdHVzIjoiY29udHJhaW5kaWNhdGVkIiwiZWFyX3RydXN0d29ydGhpbmVzc192ZWN0b3IiOnsiaW5zdGFuY2UtaWRlbnRpdHkiOjk2fSwiZWFyX2FwcHJhaXNhbF9wb2xpY3lfaWRzIjpbInBvbGljeTpzaW1hdHRlc3QvY2hlY2tvdXQvdjEiXX19LCJzaW1hdHRlc3RfcmVhc29ucyI6WyJNRV9VTktOT1dOIiwiQ09NTUVSQ0lBTF9TSU0iXX0.K0hp7Fn3oYTjU3sYestyCBF9M87Ydg1scP4aJ5Bi-yZKtuqcd3zeJj-LzsuYdiyF3_sCYyWfpI6pUZIwayPXcQ	\N
bfbe83761271ad8a6107c04852ff2d02	356938035640037	3	3	usim	\\xdbf9b5c95518b85d3da6fba54ba4f35c	YxiqVTFri10EqPk-9IXWmxqEzkmSdRM44tXzrvzshTI	127.0.0.1	2026-12-07 12:52:26.611802+00	2026-12-07 12:53:26.611802+00	pending	\N	\N	\N	\N	\N	\N	\N	\N
\.


--
-- Data for Name: audit_entries; Type: TABLE DATA; Schema: public; Owner: -
--

COPY public.audit_entries (seq, at, actor, action, subject, details, prev_hash, hash) FROM stdin;
1	2026-12-07 12:52:26.319218+00	make_release_fixture	operator.create	operator:1	{"label":"fixture admin","role":"admin"}	\\x0000000000000000000000000000000000000000000000000000000000000000	\\x89cb12a5d72a5467467adad84726bdb21b32588e01cee80f938abdb522c2ee8e
2	2026-12-07 12:52:26.326384+00	make_release_fixture	operator.create	operator:2	{"label":"fixture provisioner","role":"provisioner"}	\\x89cb12a5d72a5467467adad84726bdb21b32588e01cee80f938abdb522c2ee8e	\\x12cfcb3e6a5fbe653a171c80bc8fd40eacf233c4d43a2a355dc587a08ddc3557
3	2026-12-07 12:52:26.328991+00	make_release_fixture	operator.create	operator:3	{"label":"fixture desk","role":"desk"}	\\x12cfcb3e6a5fbe653a171c80bc8fd40eacf233c4d43a2a355dc587a08ddc3557	\\xab5ff8f46ca60fd36cb94843d859b861264ba9e65d1c0ce338ac25ca5304fea2
4	2026-12-07 12:52:26.353967+00	make_release_fixture	pool.import	batch:fixture-batch.out	{"format":"vendor-out","imported":4,"partial":false,"rejected":0,"rows":4,"sha256":"a1eb8ad597d2fccd13248c101f8c56df6e601b04987f60562b3779dc9fc0b470"}	\\xab5ff8f46ca60fd36cb94843d859b861264ba9e65d1c0ce338ac25ca5304fea2	\\x73c5fea0b6fe9f18133e6b655dd5430161cd91cce7150644dc42830719ab4785
5	2026-12-07 12:52:26.365098+00	make_release_fixture	handset.add	imei:356938035640011	{"imeisv":null,"key_algorithm":"ed25519","label":"unit 001"}	\\x73c5fea0b6fe9f18133e6b655dd5430161cd91cce7150644dc42830719ab4785	\\xf58bb3cf6f80eed08d53cb3861515db7201f9eade3b072feb11fa6a5f0cb7a24
6	2026-12-07 12:52:26.386113+00	make_release_fixture	pairing.create	imei:356938035640011	{"iccid":"8900101000000000019","pairing_id":1}	\\xf58bb3cf6f80eed08d53cb3861515db7201f9eade3b072feb11fa6a5f0cb7a24	\\x2a6cb7a018f8e53670f34e0e7f90de758a5c09b13dc3b5d79bed1af82ef8d452
7	2026-12-07 12:52:26.389953+00	make_release_fixture	handset.add	imei:356938035640029	{"imeisv":null,"key_algorithm":"ed25519","label":"unit 002"}	\\x2a6cb7a018f8e53670f34e0e7f90de758a5c09b13dc3b5d79bed1af82ef8d452	\\xafda691bcf414c25e0bf3c3bf64ed8a230de20f899626b4e9fed2463a0b5c687
8	2026-12-07 12:52:26.396752+00	make_release_fixture	pairing.create	imei:356938035640029	{"iccid":"8900101000000000027","pairing_id":2}	\\xafda691bcf414c25e0bf3c3bf64ed8a230de20f899626b4e9fed2463a0b5c687	\\xdbd8990f574258edadeefa27d7b3678216bcd03595679b6c11b3a0e1f787892a
9	2026-12-07 12:52:26.400166+00	make_release_fixture	handset.add	imei:356938035640037	{"imeisv":null,"key_algorithm":"ed25519","label":"unit 003"}	\\xdbd8990f574258edadeefa27d7b3678216bcd03595679b6c11b3a0e1f787892a	\\xf249c05bfe991b0d3a48496732496652f0b8ef5dfa614e732b7c3608952ae0d9
10	2026-12-07 12:52:26.406254+00	make_release_fixture	pairing.create	imei:356938035640037	{"iccid":"8900101000000000035","pairing_id":3}	\\xf249c05bfe991b0d3a48496732496652f0b8ef5dfa614e732b7c3608952ae0d9	\\x8d78488fee4a67debb02bf119b8c94a735092c98bf8fac4964ef54236ec48985
11	2026-12-07 12:52:26.409549+00	make_release_fixture	handset.add	imei:356938035640052	{"imeisv":null,"key_algorithm":"ed25519","label":"unit 005"}	\\x8d78488fee4a67debb02bf119b8c94a735092c98bf8fac4964ef54236ec48985	\\x2a74c664ccee7be2813fc64cf78483890cee241dd441eb2cf1d416a345672f21
12	2026-12-07 12:52:26.415872+00	make_release_fixture	pairing.create	imei:356938035640052	{"iccid":"8900101000000000050","pairing_id":4}	\\x2a74c664ccee7be2813fc64cf78483890cee241dd441eb2cf1d416a345672f21	\\xc7b9079d4383bd01c90ea50466af1b49f6cca6905d9cc43cf2fc0e90ab201abe
13	2026-12-07 12:52:26.4308+00	make_release_fixture	pairing.end	imei:356938035640052	{"iccid":"8900101000000000050","pairing_id":4}	\\xc7b9079d4383bd01c90ea50466af1b49f6cca6905d9cc43cf2fc0e90ab201abe	\\xcbc244ed7ac2a6c0f4dccf6e8dc16a41e6234636bc160fd8c0ccaa2463fd6dbd
14	2026-12-07 12:52:26.444005+00	make_release_fixture	card.verified	iccid:8900101000000000019	{"reason":"self-check AKA passed"}	\\xcbc244ed7ac2a6c0f4dccf6e8dc16a41e6234636bc160fd8c0ccaa2463fd6dbd	\\x596ee357e451a0f485c4973129466e6082675cbcfdf6283d2052c65de3efd2e6
15	2026-12-07 12:52:26.455544+00	make_release_fixture	card.verified	iccid:8900101000000000027	{"reason":"self-check AKA passed"}	\\x596ee357e451a0f485c4973129466e6082675cbcfdf6283d2052c65de3efd2e6	\\x927f0e1bbc694982df6b36b101b05c364dd701c56c281e764b60820a2633e489
16	2026-12-07 12:52:26.510507+00	handset:356938035640011	attestation	attestation:79a110743c0139bc395cea50fa2d1ece	{"iccid":"8900101000000000019","imei":"356938035640011","reasons":[],"status":"affirming"}	\\x927f0e1bbc694982df6b36b101b05c364dd701c56c281e764b60820a2633e489	\\x73abdd9ac92a63c3094d69f5e94520d285b3d60abc91350a88cab27f6157b899
17	2026-12-07 12:52:26.532376+00	handset:356938035640029	attestation	attestation:2918cfb2ecad4ac649f488c2f58a4ac6	{"iccid":"8900101000000000027","imei":"356938035640029","reasons":[],"status":"affirming"}	\\x73abdd9ac92a63c3094d69f5e94520d285b3d60abc91350a88cab27f6157b899	\\x440cfde8dc3451c4666bb4e0c7baece72168327bc1ef7433ca23b774281bd633
18	2026-12-07 12:52:26.558554+00	handset:356938035640037	attestation.resync	attestation:5853b0a2f669780b3cb4991f4373db0e	{"iccid":"8900101000000000035","imei":"356938035640037","next":"bb66ee54a27aa71f25e018dfe4157459"}	\\x440cfde8dc3451c4666bb4e0c7baece72168327bc1ef7433ca23b774281bd633	\\x7fe68d8ca38a71339ecd5806b1722605a51e9e30425100f3883e05308c560081
19	2026-12-07 12:52:26.566386+00	handset:356938035640037	attestation	attestation:bb66ee54a27aa71f25e018dfe4157459	{"iccid":"8900101000000000035","imei":"356938035640037","reasons":[],"status":"affirming"}	\\x7fe68d8ca38a71339ecd5806b1722605a51e9e30425100f3883e05308c560081	\\x0e1acdc15fadbe960fa2afbaaab5a642b03281c796e5c09cceea5a98163d255d
20	2026-12-07 12:52:26.590552+00	handset:356938035640011	attestation	attestation:48d951d7a88d3a35a69e17f5853c7713	{"iccid":"8999970000000000019","imei":"356938035640011","reasons":["COMMERCIAL_SIM"],"status":"contraindicated"}	\\x0e1acdc15fadbe960fa2afbaaab5a642b03281c796e5c09cceea5a98163d255d	\\x1715c5d6a7f8d349b265a60c3d686285165489e7f774b0d2b259f94f0bfffdeb
21	2026-12-07 12:52:26.607208+00	client:127.0.0.1	attestation	attestation:39ae0bc1e040805045ef2f565e12aa48	{"iccid":"8999970000000000019","imei":"356938035640078","reasons":["ME_UNKNOWN","COMMERCIAL_SIM"],"status":"contraindicated"}	\\x1715c5d6a7f8d349b265a60c3d686285165489e7f774b0d2b259f94f0bfffdeb	\\x221d37b357d29e336fd62ec0676fd194ecb6ecfadc18c76ab92c672186353ddf
22	2026-12-07 12:52:27.122326+00	make_release_fixture	checkout.start	imei:356938035640011	{"attestation_id":"79a110743c0139bc395cea50fa2d1ece","checkout_id":1,"iccid":"8900101000000000019","user":"officer 0001"}	\\x221d37b357d29e336fd62ec0676fd194ecb6ecfadc18c76ab92c672186353ddf	\\x187064069874be20a97cbad5d12b6f999f9bfac87412a19b75189f872815d817
23	2026-12-07 12:52:27.126839+00	make_release_fixture	checkout.return	imei:356938035640011	{"checkout_id":1,"user":"officer 0001"}	\\x187064069874be20a97cbad5d12b6f999f9bfac87412a19b75189f872815d817	\\xbef6fcf98b68ea723298b578375a064941263f761ac01acd16d6456ea0fd9357
24	2026-12-07 12:52:27.131593+00	make_release_fixture	checkout.start	imei:356938035640029	{"attestation_id":"2918cfb2ecad4ac649f488c2f58a4ac6","checkout_id":2,"iccid":"8900101000000000027","user":"officer 0002"}	\\xbef6fcf98b68ea723298b578375a064941263f761ac01acd16d6456ea0fd9357	\\x10207360393cfb9b3f05626f5262e926b47840ebf0ec6825c30d38e330da21c3
\.


--
-- Data for Name: audit_head; Type: TABLE DATA; Schema: public; Owner: -
--

COPY public.audit_head (id, seq, hash, prev_hash) FROM stdin;
1	24	\\x10207360393cfb9b3f05626f5262e926b47840ebf0ec6825c30d38e330da21c3	\\xbef6fcf98b68ea723298b578375a064941263f761ac01acd16d6456ea0fd9357
\.


--
-- Data for Name: cards; Type: TABLE DATA; Schema: public; Owner: -
--

COPY public.cards (id, iccid, imsi, profile, algorithm, k_enc, opc_enc, pin1_enc, puk1_enc, adm1_enc, impi, impu, batch, imported_at, verification, verified_at, verification_reason, sqn_seq) FROM stdin;
4	8900101000000000050	001010000000005	\N	milenage	\\xbdca9bcf71592771b0bf6f4de6d5ba2a454705b98c9bf8cdc76924f3f5a1d1d3022cf3278502c9da0f6ede79	\\x421a2428c1417e165bc3af8191edfe3f52867227884fb4ef3fe01c0b1aaa74e1174ce8954ced2d8203992e07	\\xaa0cd85e76c9a5dc793c0ac53ea952a70f5b131188c836c9df7b37b652a2e4b9	\\x965ec9acce1a63c943050afa1e71e25bd1c929ba82d3bb5fad10a8e72b080cbb422a5059	\N	\N	\N	fixture-batch.out	2026-12-07 12:52:26.351992+00	unverified	\N	\N	0
2	8900101000000000027	001010000000002	\N	milenage	\\x7728f855d57d4e97b8b95f9c6ebe45a8b69fc2a37be0ea3a928118ee5bd1497060bc40d49bc4dc7765bfa3c1	\\xaca8d0e8c03f5b9b98a8b4d2cf49fd84148b52599b571f1424ffe36474d98bd709c34cdf722c834a0993ca76	\\x531d6dcf59c87e0cff016d68b93963d014a9b32ea5cc8e8e358184265248f4d0	\\x82cba9afb7fd56f9dfccf8a582096b65b0c4bb1c01b6103ae363cf0e7889f5626f017b3b	\N	\N	\N	fixture-batch.out	2026-12-07 12:52:26.351992+00	verified	2026-12-07 12:52:26.454346+00	self-check AKA passed	2
1	8900101000000000019	001010000000001	\N	milenage	\\x463df3f7427e376289e667d4f287dac2955667242b43f7bb3640f52783061c8a0f8b6d7ebab6915e6260b662	\\x5a7010f3572e35f67e2421c86e58281df5535fd72e77ff0ccf1d7846e209086b1702afd89591997d66f205ab	\\xc4f5903f4d24bc9c6577be5b823c4c723985b7e08f0b475337da3d225bdc8615	\\x5c41232bf053711dfca994f052eece66dc4b81311548b510e2b79d06acef32fedacafd9e	\N	\N	\N	fixture-batch.out	2026-12-07 12:52:26.351992+00	verified	2026-12-07 12:52:26.442153+00	self-check AKA passed	3
3	8900101000000000035	001010000000003	\N	milenage	\\xb9d0369056a3ed0951a9e31155b3d31d573e5c8022b249af9954c2f811eb0fb6bb9b3be17a2c04624f7949e2	\\xbbf7000f0602f95b9421525b33965553f627b9efbb582c30e076c4b63604ac6e20bde644620b67fc789b3d03	\\x6906f675e36fc21805683d0c5479f2ff47258a0df228f1f406d2245eec782a7c	\\xf7e85b941ac266137a4561c14f5a4b1787383153406d61ac2875dee522883a9811687874	\N	\N	\N	fixture-batch.out	2026-12-07 12:52:26.351992+00	unverified	\N	\N	9002
\.


--
-- Data for Name: checkouts; Type: TABLE DATA; Schema: public; Owner: -
--

COPY public.checkouts (id, attestation_id, handset_id, card_id, "user", started_at, started_by, returned_at, returned_by) FROM stdin;
1	79a110743c0139bc395cea50fa2d1ece	1	1	officer 0001	2026-12-07 12:52:27.120424+00	make_release_fixture	2026-12-07 12:52:27.123064+00	make_release_fixture
2	2918cfb2ecad4ac649f488c2f58a4ac6	2	2	officer 0002	2026-12-07 12:52:27.130543+00	make_release_fixture	\N	\N
\.


--
-- Data for Name: handsets; Type: TABLE DATA; Schema: public; Owner: -
--

COPY public.handsets (id, imei, imeisv, label, public_key_pem, key_algorithm, created_at) FROM stdin;
1	356938035640011	\N	unit 001	-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEAWxSqJDyA3JB60F3kLAavjJ5m8m2q7wrD2dan6ZKDrNA=\n-----END PUBLIC KEY-----\n	ed25519	2026-12-07 12:52:26.364024+00
2	356938035640029	\N	unit 002	-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEAs1RFmHhx9lRZQydAGaCZKDKxVeqACUZ+TpoJ2ORIBTw=\n-----END PUBLIC KEY-----\n	ed25519	2026-12-07 12:52:26.389442+00
3	356938035640037	\N	unit 003	-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEAJ6H2H/k1jvDSaz2W92/1bQXm9g0J4N3NohcLY5cCbR0=\n-----END PUBLIC KEY-----\n	ed25519	2026-12-07 12:52:26.399638+00
4	356938035640052	\N	unit 005	-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEAzq8NxJggcW5gve4ulOegOuE30faqw3gB2i/TcOOWyt0=\n-----END PUBLIC KEY-----\n	ed25519	2026-12-07 12:52:26.409082+00
\.


--
-- Data for Name: operators; Type: TABLE DATA; Schema: public; Owner: -
--

COPY public.operators (id, token_hash, role, label, created_at, revoked_at) FROM stdin;
1	\\xcdc54c2d7ffd1ac26e331ad20028f5eeec45156d6ebe5c19f5f06aa429a5d510	admin	fixture admin	2026-12-07 12:52:26.317496+00	\N
2	\\xe40a19fb45b63035d9a275e5f3583bf3a9af34f4d835c2c7d2eec8a17774fc90	provisioner	fixture provisioner	2026-12-07 12:52:26.325297+00	\N
3	\\xc71519c4b7b7fbcf3694509fe3ded45d3a58574c2ea2b4692e4ed18cc9d2e539	desk	fixture desk	2026-12-07 12:52:26.328302+00	\N
\.


--
-- Data for Name: pairings; Type: TABLE DATA; Schema: public; Owner: -
--

COPY public.pairings (id, handset_id, card_id, created_at, ended_at) FROM stdin;
1	1	1	2026-12-07 12:52:26.38482+00	\N
2	2	2	2026-12-07 12:52:26.39599+00	\N
3	3	3	2026-12-07 12:52:26.40557+00	\N
4	4	4	2026-12-07 12:52:26.415058+00	2026-12-07 12:52:26.424227+00
\.


--
-- Data for Name: rate_counters; Type: TABLE DATA; Schema: public; Owner: -
--

COPY public.rate_counters (key, "window", count) FROM stdin;
client:127.0.0.1	29944132	37
imei:356938035640029	29944132	2
imei:356938035640011	29944132	4
imei:356938035640078	29944132	2
imei:356938035640037	29944132	4
\.


--
-- Data for Name: service_meta; Type: TABLE DATA; Schema: public; Owner: -
--

COPY public.service_meta (name, value) FROM stdin;
kek_check	\\x976eb2f844d059e374ad282f94c2c707bfe67fa051dc0bcd4c4ea075ffcbae05
ear_signing_kid	\\x6f474675622d69556b625671547476704f5154534a7278384a315878374f35433946375a626147667a3138
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

\unrestrict kkTnjnVR05tpIMA1RScppLMuICaUOTgVnUW1uGkEzPlwcAE4rclXqMJj3ZygiGZ

