//! Byte-vector tests on packets captured from net-snmp (snmpget/snmpd), under testdata/snmp.
