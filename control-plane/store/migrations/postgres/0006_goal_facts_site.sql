-- Sitewarden control plane schema, version 6: the site page counts one
-- site's goals by day (store.SiteDetail.SiteGoalCounts); without this index
-- that reads every goal of the site's client.
CREATE INDEX goal_facts_site_day ON goal_facts (client, site, day);
