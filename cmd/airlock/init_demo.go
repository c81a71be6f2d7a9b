package main

// quickstartYAML is what `airlock init --demo` writes: the quick start's
// config, examples/quickstart/airlock.yaml (TestInitDemoIsTheQuickstart
// keeps the two equal).
const quickstartYAML = `# Airlock quick start: the embedded SQLite store, a demo SQLite database
# created on first run, and the built-in dev issuer.
#
#   go run ./cmd/airlock serve --config examples/quickstart/airlock.yaml
#   go run ./cmd/airlock token mint --config examples/quickstart/airlock.yaml \
#       --subject alice --groups analysts
server:
  listen: 127.0.0.1:8080

identity:
  audience: airlock
  dev_issuer:
    enabled: true          # development only: point identity.issuer at your IdP in production
  # Calls over ` + "`" + `serve --stdio` + "`" + ` without AIRLOCK_TOKEN act as this principal.
  stdio_principal:
    subject: local-dev
    groups: [analysts]

store: sqlite:airlock.db   # the journal; relative to this file

connections:
  demo:
    kind: sqlite
    description: Demo shop database (customers, orders) with fake personal data.
    path: demo.db
    seed: demo             # create demo.db from the built-in seed on first run

rules:
  # Analysts get short read grants on demo without waiting for anyone: an
  # agent calls request_access, then query_db.
  - name: analysts-read-demo
    groups: [analysts]
    connections: [demo]
    access: [read]
    effect: allow
    grant:
      mode: auto
      max_duration: 1h
  # Anyone else in group "contractors" must have a dba approve first:
  #   airlock approvals list / airlock approvals approve ID
  - name: contractors-read-demo
    groups: [contractors]
    connections: [demo]
    access: [read]
    effect: allow
    grant:
      mode: approval
      approvers: [dba]
      max_duration: 30m

# Results are masked before the agent or the journal sees them: every
# detector is on (cards, SSNs, emails, phones, IBANs, IPs, secrets), and
# these columns keep only their last four characters.
masking:
  columns:
    "*.ssn": partial
    "*.card_number": partial

approvals:
  wait: 30s

admin:
  groups: [platform]
  auditors: [auditors]     # read the journal in the console (http://127.0.0.1:8080/console/)

limits:
  call_timeout: 30s
  statement_timeout: 10s
  max_rows: 200
  max_result_tokens: 8000   # results are cut at a row boundary beyond this
`
