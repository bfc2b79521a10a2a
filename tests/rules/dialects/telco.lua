-- telco.lua: IBM's Telco Customer Churn file (tests/data/telco-churn) read as it is. Its name
-- gives the table name (Telco_Customer_Churn); 11 customers with tenure 0 have TotalCharges " "
-- (one space): blank_is_empty reads those as empty, not as a malformed number.
entity {
  file = "Telco-Customer-Churn.csv",
  key = "customerID",
  blank_is_empty = true,
  columns = { customerID = "text", tenure = "int", Contract = "category", Churn = "category",
              MonthlyCharges = "decimal", TotalCharges = "decimal" },
}
metrics {
  file = "churn_by_contract.csv",
  group_by = { "Contract", "Churn" },
  columns = { "Contract", "Churn",
              { "customers", count() },
              { "no_total", count(function(c) return c.TotalCharges == nil end) },
              { "monthly", sum("MonthlyCharges") },
              { "total", sum("TotalCharges") },
              { "tenure", sum("tenure") } },
}
