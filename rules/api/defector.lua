---@meta
-- Annotations of the rule API for the Lua language server (sumneko / LuaLS): with the
-- repository's .luarc.json, an editor completes and checks these names as you type a rule file.
-- This file is never run; docs/rules.md describes the same API with examples.

---@class Customer
---One customer as rules see it: the entity's columns, the features, and after the rules
---`points`, `score`, `band`, `stage` and the values. Read-only.
---@field points number sum of the points of the rules that fired
---@field score number
---@field band string?
---@field stage string?
---@field [string] any

---@class TableSpec
---@field file string plain file name in the --data folder (.csv.gz or .csv; no folder, no ..), or a pattern such as "events-*.csv.gz"
---@field key string key column (customer id)
---@field date? string history only: the date column; rows after AS_OF are ignored
---@field columns table<string, "int"|"decimal"|"date"|"datetime"|"category"|"text">
---@field ends? string history only: an interval table's end or expiry date column (date = its start): filters active, ends_within, ended_last_days
---@field name? string defaults to the file name without .csv/.gz/.txt, other bytes than letters, digits and _ made _ ("Telco-Customer-Churn.csv" -> Telco_Customer_Churn)
---@field required? string[] columns that must not be empty: a row with one empty is bad input
---@field delimiter? ","|";"|"\t"|"|"|"spaces" between fields (default ","); "spaces": columns aligned with runs of spaces, no quoting
---@field decimal? "."|"," the decimal mark of decimal columns (default ".")
---@field thousands? "."|","|" "|"'" the thousands separator of int and decimal columns (default: none)
---@field date_format? string how date columns are written, e.g. "%d/%m/%Y", "%m/%d/%Y %H:%M", "%Y%m%d" (%d %m %Y %H %M %S; a time of day is checked, then dropped; default YYYY-MM-DD)
---@field blank_is_empty? boolean a cell of only spaces and tabs is empty (default false: it is data, and refused as a number or date)
---@field encoding? "utf-8"|"windows-1252"|"latin-1" the file's encoding, converted to UTF-8 (default: UTF-8, checked)

---@class History opaque and read-only

---@class Aggregate
---@class MetricAggregate
---@class Predicate

---The as-of date (days since 1970-01-01): --as-of on the command line.
---@type integer
AS_OF = 0
---The as-of date as "YYYY-MM-DD".
---@type string
AS_OF_TEXT = ""

---Declares the entity table: one row per customer (or entity { from = history }: its keys).
---@param spec TableSpec|EntityFromSpec
function entity(spec) end

---Declares a history table: many rows per customer.
---@param spec TableSpec
---@return History
function history(spec) end

---Declares a feature: a function of the customer, or an aggregate over a history.
---@param name string
---@param def fun(c: Customer): any | Aggregate
function feature(name, def) end

---@class RuleSpec
---@field [1] string the rule code, unique
---@field points number
---@field when fun(c: Customer): boolean
---@field reason? string|fun(c: Customer): string text with {feature} placeholders, or a function
---@field action? string what to do when it fires ("call", "send offer", "visit"): gives next_action, action_rule, due_date
---@field due? integer days after AS_OF the action is due (with action)

---Declares a rule.
---@param spec RuleSpec
function rule(spec) end

---How points become the score (default: the points).
---@param fn fun(c: Customer): number
function score(fn) end

---Bands from the highest minimum score down: { {"high", 60}, {"medium", 30}, {"low", 0} }.
---@param list table
function bands(list) end

---Stages, the first that holds: { {"name", function(c) ... end}, ..., {"default"} }.
---@param list table
function stages(list) end

---A per-customer value computed after score, band and stage.
---@param name string
---@param fn fun(c: Customer): any
function value(name, fn) end

---@class OutputSpec
---@field file string
---@field where? fun(c: Customer): boolean
---@field order? string[] field names, optionally followed by " desc"
---@field columns table field names or {"header", field or function(c)}
---@field decimals? table<string, integer> fixed decimals per column: { revenue_at_risk = 2 } (49.90)
---@field bom? boolean CSV: a UTF-8 byte order mark first (Excel then reads UTF-8)
---@field separator? string CSV: "," (default), ";" or "\t"
---@field decimal_comma? boolean CSV: 19,95 instead of 19.95 (needs separator ";" or "\t")
---@field formula_guard? boolean CSV: the ' before text starting with = + - @ (default true)
---@field split_by? string one list per value of this field (a file, or a sheet in a .xlsx)
---@field unassigned? string the name of the list of rows without a value (default "unassigned")
---@field mask? string[] headers of columns whose values are written *** (personal data)

---A list output (a .csv file, or a workbook when file ends in .xlsx): one row per customer that passes `where`.
---@param spec OutputSpec
function output(spec) end

---@class MetricsSpec
---@field file string
---@field where? fun(c: Customer): boolean
---@field group_by? string[]
---@field order? string[]
---@field columns table group_by names or {"name", count() | sum(...) | avg(...) | function(row)}
---@field decimals? table<string, integer> fixed decimals per column
---@field bom? boolean
---@field separator? string
---@field decimal_comma? boolean
---@field formula_guard? boolean

---A metric table: one row per group.
---@param spec MetricsSpec
function metrics(spec) end

---@class WorkbookSpec
---@field file string a name ending in .xlsx
---@field sheets table output files, or {"sheet name", "output.csv", decimals = {...}}

---A workbook gathering outputs as its sheets (plus a sheet "run"); the CSV files stay.
---@param spec WorkbookSpec
function workbook(spec) end

---@class ReportSpec
---@field file string a name ending in .html, like "report.html"
---@field title? string the page's heading
---@field sections table[] each { kind, "Title", from = "output.csv", ... }: kind "figures" (columns?, labels?, percent = {cols}), "bars" (x, y, series?, percent?, reverse?), "funnel" (x, y, reverse?), "line" (x, y, percent?), "table" (columns?, rows?), "top" (by, columns?, rows?); optional = true: left out when the run does not write the output

---A self-contained HTML page (inline SVG charts, no script, nothing fetched) of the run's own CSV outputs: every number on it is a cell of the file it names.
---@param spec ReportSpec
function report(spec) end

---@class SnapshotSpec
---@field keep? string[] fields kept in each night's customers.csv.gz beside key, score, band, stage, on_list, reason_codes
---@field defected? string a true/false field: defected (the changes table's `defected`, churn)
---@field list? string the risk list: the file of an output { } (default: the first)
---@field revenue? string the revenue of churn's revenue retention

---What each night of --history keeps per customer (docs/history.md).
---@param spec SnapshotSpec
function snapshot(spec) end

---@class ChangesSpec
---@field file string the changes since the previous night, a row per customer and change
---@field flows? string stage and band flows from the previous night
---@field min_score_change? number score_up / score_down rows from this many points

---The changes since the previous night of --history, as outputs.
---@param spec ChangesSpec
function changes(spec) end

---@class TrendSpec
---@field file string
---@field metrics string the file of a metrics { } table of the rule file
---@field nights? integer the last N nights, tonight's included (default 12)

---A metrics table over the last nights of --history, each row after its night's date.
---@param spec TrendSpec
function trend(spec) end

---@class ChurnSpec
---@field file string
---@field nights? integer the last N periods between nights (default 12)

---Churn rate and gross/net revenue retention per period between nights (needs snapshot { defected, revenue }).
---@param spec ChurnSpec
function churn(spec) end

---@class BacktestSpec
---@field outcome string a true/false field, read at the as-of date + --horizon
---@field eligible? string a true/false field, read at the as-of date: who counts (default: outcome not yet true)
---@field k? integer[] list sizes for precision and recall at K

---What `defector backtest` compares the scores with (docs/history.md, Backtest).
---@param spec BacktestSpec
function backtest(spec) end

---History rows that pass the filter: count(events, {event_type = "complaint", last_days = 90});
---or, in metrics, customers: count() or count(function(c) ... end).
---@param h? History|fun(c: Customer): boolean
---@param filter? table
---@return Aggregate|MetricAggregate
function count(h, filter) end

---True when a history row passes the filter.
---@param h History
---@param filter table
---@return Aggregate
function any(h, filter) end

---Sum of a history column (sum(events, "amount", {...})) or, in metrics, of a field
---(sum("revenue_at_risk", 2 [, where])).
---@return Aggregate|MetricAggregate
function sum(a, b, c) end

---Average of a field in metrics, rounded half away from zero to `places`.
---@param field string
---@param places? integer
---@param where? fun(c: Customer): boolean
---@return MetricAggregate
function avg(field, places, where) end

---@param h History
---@param column string
---@param filter? table
---@return Aggregate
function min(h, column, filter) end

---@param h History
---@param column string
---@param filter? table
---@return Aggregate
function max(h, column, filter) end

---The column's value on the latest date among the rows that pass; ties: "lowest" or "highest".
---@param h History
---@param column string
---@param filter? table
---@param tie? "lowest"|"highest"
---@return Aggregate
function latest(h, column, filter, tie) end

---The same on the earliest date.
---@param h History
---@param column string
---@param filter? table
---@param tie? "lowest"|"highest"
---@return Aggregate
function earliest(h, column, filter, tie) end

---@param x number
---@return Predicate
function above(x) end
---@param x number
---@return Predicate
function below(x) end
---@param x number
---@return Predicate
function at_least(x) end
---@param x number
---@return Predicate
function at_most(x) end
---@type Predicate
present = nil
---@type Predicate
empty = nil

---False when x is nil, else lo <= x <= hi.
---@param x number?
---@param lo number
---@param hi number
---@return boolean
function between(x, lo, hi) end

---Rounds half away from zero to `places` decimals (x taken at 15 significant digits).
---@param x number?
---@param places? integer
---@return number?
function round(x, places) end

---a / b rounded half away from zero, exact for integers; nil when b is 0.
---@param a number?
---@param b number?
---@param places? integer
---@return number?
function ratio(a, b, places) end

---@param s string "YYYY-MM-DD"
---@return integer days
function date(s) end
---@param d integer?
---@return string?
function date_text(d) end
---@param d integer?
---@return string? "YYYY-Qn"
function quarter(d) end
---@param d integer?
---@return string? "YYYY-MM"
function month(d) end
---@param d integer?
---@return integer?
function year(d) end

---@class GuardSpec
---@field max_drop? number percent the figure may fall from the previous night
---@field max_rise? number percent it may rise
---@field max_change? number both

---@class OperationsSpec
---@field time_zone? string "Europe/Paris": the default as-of date is today there
---@field strict? boolean any warning fails the run
---@field file_mode? string "0640" (default), "0600": the mode of the files written
---@field hash_ids? boolean rejected rows and example keys as salted hashes (DEFECTOR_ID_SALT)
---@field guards? table<string, GuardSpec|string> customers, ["rows:TABLE"], ["list:FILE"]; same_input = "warn"|"fail"|"ignore"

---Settings for running unattended (docs/operations.md); the command line's options win.
---@param spec OperationsSpec
function operations(spec) end

---@class SequenceSpec
---@field from table the filter of the first event, e.g. { event_type = "voicemail" }
---@field to table the filter of the next event, e.g. { event_type = "callback" }
---@field at? string a datetime column of the history: times to the minute (else the date column, in days)
---@field unit? "days"|"hours"|"minutes" (default "days"; hours and minutes need at)
---@field within? number the limit, in unit: followed / missed / open count against it
---@field last_days? integer only `from` rows in the last N days
---@field result? "last"|"first"|"max"|"min"|"count"|"followed"|"missed"|"open" (default "last": the time after the latest `from` row)

---The time from each row passing `from` to the next row passing `to` of the same customer, and
---counts of those followed or not within a limit (a sequence aggregate).
---@param h History
---@param spec SequenceSpec
---@return Aggregate
function time_to_next(h, spec) end

---The median of a field over the group (linear interpolation: the mean of the two middle values).
---@param field string
---@param places? integer default 2
---@param where? fun(c: Customer): boolean
---@return MetricAggregate
function median(field, places, where) end

---The p-th percentile of a field over the group, by linear interpolation between the closest
---ranks (Excel's PERCENTILE.INC): percentile("callback_hours", 90, 2).
---@param field string
---@param p number 0 to 100
---@param places? integer default 2
---@param where? fun(c: Customer): boolean
---@return MetricAggregate
function percentile(field, p, places, where) end

---@class CallsSpec
---@field file string a name ending in .csv
---@field where? fun(c: Customer): boolean
---@field owner string the field holding each customer's owner (empty: the unassigned list)
---@field order? string[] field names, optionally followed by " desc"; each owner's list in this order
---@field cap integer customers per owner per day; the rest carried to the next days (call_on)
---@field cooldown? table { last = "<date of the last contact>", days = N, nights = M }: leaves out those contacted in the last N days, and (with --history) those listed in the last M nights
---@field columns table field names (also rank, call_on, carried, late) or {"header", field or function(c)}
---@field unassigned? string the name of the list of customers without an owner (default "unassigned")

---Call lists per owner, capped per day, with a cool-down.
---@param spec CallsSpec
function calls(spec) end

---@class SaveRateSpec
---@field file string a name ending in .csv
---@field calls? string the calls list's file (default: the first calls { })
---@field after integer days after the listing night (at least)
---@field within integer how far back the nights go (days)
---@field still string the true/false field meaning still a customer tonight, like "not_defected"

---With --history: of the customers on the call list on a night from AS_OF - within to AS_OF -
---after, how many are still customers tonight, per rule, action and owner.
---@param spec SaveRateSpec
function save_rate(spec) end

-- Transaction exports (docs/rules.md, "Transaction exports")

---@class Product opaque: a per-row amount for sum
---@class EntityFromSpec
---@field from History the history whose keys are the customers (its file, key and dialect)
---@field name? string the table's name (default "customers")

---@class TriangleSpec
---@field file string
---@field first string a feature earliest(h, "<date column>", filter): month 0 of each customer
---@field active string a feature active_months(h, filter) with the same history and filter
---@field cohort string the name of the cohort column (a value declared by the triangle: "YYYY-MM")
---@field periods integer months since the first purchase, 1 to 52
---@field where? fun(c: Customer): boolean

---The number of distinct values of a column among the rows that pass (empty cells are no value).
---@param h History
---@param column string
---@param filter? table may hold days_from = { "field", from, to }
---@return Aggregate
function count_distinct(h, column, filter) end

---The value the most rows that pass hold; ties: the lowest (byte order for text and categories).
---@param h History
---@param column string
---@param filter? table
---@return Aggregate
function most_frequent(h, column, filter) end

---The calendar months with a row that passes, from the month of the first such row: bit k set
---when month k has one (a number; months beyond 52 are left out).
---@param h History
---@param filter? table
---@return Aggregate
function active_months(h, filter) end

---A per-row amount for sum: sum(lines, product("Quantity", "UnitPrice"), {...}), exact.
---@param a string an int or decimal column
---@param b string an int or decimal column
---@return Product
function product(a, b) end

---A metrics table of cohorts (the month of first) by months since it: counts and rates.
---@param spec TriangleSpec
function retention_triangle(spec) end

---@class ModelSpec
---@field history History the purchases
---@field filter? table which rows are purchases (values, lists, predicates; no function, no last_days)
---@field unit "days"|"weeks" of recency, age, t and the parameters
---@field calibration_end? string "YYYY-MM-DD" (default AS_OF): purchases after it are the holdout
---@field spend? string an int or decimal column: the Gamma-Gamma spend model
---@field params? table|string { r =, alpha =, a =, b = } or a fit file beside the rule file ("bgnbd_fit.csv")
---@field spend_params? table|string { p =, q =, v = } or a fit file (default: params' file)
---@field fit? string write the fitted parameters to this output ("bgnbd_fit.csv")

---@class Model
---@field frequency fun(c: Customer): number? repeat purchase days
---@field recency fun(c: Customer): number? first to last purchase, in the unit
---@field age fun(c: Customer): number? first purchase to the calibration end, in the unit
---@field holdout fun(c: Customer): number purchase days after the calibration end
---@field p_alive fun(c: Customer): number? P(alive)
---@field spend fun(c: Customer): number? mean spend of the repeat purchase days
---@field expected_spend fun(c: Customer): number? Gamma-Gamma expected mean spend
---@field expected_purchases fun(t: number): fun(c: Customer): number? purchases expected in the next t units
---@field clv fun(o: {months?: integer, discount?: number}): fun(c: Customer): number? lifetime value (lifetimes' discounted sum)
---@field expected_new fun(t: number): fun(c: Customer): number purchases of a new customer in t units
---@field prob_purchases fun(n: integer, t: number): fun(c: Customer): number P(X(t) = n) for a new customer

---BG/NBD and Gamma-Gamma over a history of purchases (docs/rules.md, "Customer models").
---@param spec ModelSpec
---@return Model
function bgnbd(spec) end
