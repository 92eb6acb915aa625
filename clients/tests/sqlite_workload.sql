-- sqlite_workload.sql: a scripted sqlite3 session for the preload tests (output compared with
-- and without LD_PRELOAD=libpymt-malloc.so). In-memory database: inserts, an index, joins,
-- grouping, string and JSON functions, a sort that spills, updates and deletes.
PRAGMA cache_size = -2000;
CREATE TABLE item(id INTEGER PRIMARY KEY, name TEXT, grp INTEGER, val REAL, doc TEXT);
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 60000)
INSERT INTO item SELECT i, printf('name-%06d-%s', i, substr('abcdefghijklmnopqrstuvwxyz', 1, i % 26 + 1)),
       i % 97, (i * 7919 % 10007) / 13.0, json_object('i', i, 'tags', json_array(i % 3, i % 5, 'x' || i))
FROM n;
CREATE INDEX item_grp ON item(grp, val);
CREATE TABLE grp(id INTEGER PRIMARY KEY, label TEXT);
INSERT INTO grp SELECT DISTINCT grp, 'group ' || grp FROM item;
SELECT count(*), sum(length(name)), round(sum(val), 3) FROM item;
SELECT g.label, count(*), round(avg(i.val), 4), max(length(i.doc))
  FROM item i JOIN grp g ON g.id = i.grp GROUP BY g.id ORDER BY g.id LIMIT 10;
SELECT json_extract(doc, '$.tags[2]') FROM item WHERE grp = 42 ORDER BY val DESC LIMIT 5;
SELECT group_concat(substr(name, 13), ',') FROM (SELECT name FROM item ORDER BY name DESC LIMIT 50);
UPDATE item SET name = upper(name) || replace(name, '-', '+') WHERE id % 3 = 0;
DELETE FROM item WHERE id % 5 = 0;
SELECT count(*), sum(length(name)), hex(substr(max(name), 1, 12)) FROM item;
SELECT grp, count(DISTINCT substr(name, 1, 8)) FROM item GROUP BY grp ORDER BY 2 DESC, 1 LIMIT 5;
