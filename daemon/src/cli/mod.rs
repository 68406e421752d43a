//! `bergamot-cli`: the operator's command line (validate, show, time periods, new site).
