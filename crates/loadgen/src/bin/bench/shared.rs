//! What the nodes of one run share, made fresh for the run and removed
//! after it: a PostgreSQL schema (the first Chatroom node to open it makes
//! its tables) and a Redis key prefix (Chatroom's presence keys and relay
//! channel, or socket.io's adapter channels and the Node.js reference's head
//! count). Both go through the services' own command-line clients, `psql`
//! and `redis-cli`, so the benchmark carries no database driver of its own.

use std::process::Stdio;

use tokio::process::Command;

/// Where the services are.
#[derive(Debug, Clone)]
pub struct Services {
    /// A PostgreSQL database the run may make a schema in.
    pub postgres: String,
    /// A Redis server the run's keys and channels go to, under its prefix.
    pub redis: String,
}

/// A run's schema and prefix; [`Services::remove`] removes what they hold.
#[derive(Debug, Default)]
pub struct Made {
    /// The schema, and a database URL whose connections use it.
    pub schema: Option<(String, String)>,
    /// The Redis prefix (keys `<prefix>:…`).
    pub prefix: Option<String>,
}

impl Services {
    /// Makes schema `name` (lower-case letters, digits, `_`); returns a
    /// database URL whose connections put their tables there.
    pub async fn create_schema(&self, name: &str) -> anyhow::Result<String> {
        anyhow::ensure!(
            !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'),
            "bad schema name {name:?}"
        );
        psql(&self.postgres, &format!("CREATE SCHEMA {name}")).await?;
        let join = if self.postgres.contains('?') {
            '&'
        } else {
            '?'
        };
        Ok(format!(
            "{}{join}options=-c%20search_path%3D{name}",
            self.postgres
        ))
    }

    /// Drops what a run made: its schema with every table in it, and every
    /// Redis key under its prefix. Reports what it could not remove, and
    /// goes on.
    pub async fn remove(&self, made: Made) {
        if let Some((name, _)) = made.schema
            && let Err(e) = psql(&self.postgres, &format!("DROP SCHEMA {name} CASCADE")).await
        {
            eprintln!("could not drop schema {name}: {e}");
        }
        if let Some(prefix) = made.prefix
            && let Err(e) = self.delete_keys(&prefix).await
        {
            eprintln!("could not delete the Redis keys under {prefix}: {e}");
        }
    }

    /// Deletes every key `<prefix>:…`, found with `SCAN` (which, unlike
    /// `KEYS`, never stalls a Redis that others use meanwhile).
    async fn delete_keys(&self, prefix: &str) -> anyhow::Result<()> {
        let listed = run(Command::new("redis-cli").args([
            "-u",
            &self.redis,
            "--scan",
            "--pattern",
            &format!("{prefix}:*"),
        ]))
        .await?;
        let keys: Vec<&str> = listed.lines().filter(|k| !k.is_empty()).collect();
        for chunk in keys.chunks(500) {
            run(Command::new("redis-cli")
                .args(["-u", &self.redis, "DEL"])
                .args(chunk))
            .await?;
        }
        Ok(())
    }
}

/// One SQL statement through `psql`, stopping at an error.
async fn psql(url: &str, sql: &str) -> anyhow::Result<()> {
    run(Command::new("psql").args([url, "-qAt", "-v", "ON_ERROR_STOP=1", "-c", sql])).await?;
    Ok(())
}

/// Runs a client command; its output, or what it said on failing.
async fn run(command: &mut Command) -> anyhow::Result<String> {
    let output = command
        .stdin(Stdio::null())
        .output()
        .await
        .map_err(|e| anyhow::anyhow!("{}: {e}", command.as_std().get_program().display()))?;
    anyhow::ensure!(
        output.status.success(),
        "{}: {}",
        output.status,
        String::from_utf8_lossy(&output.stderr).trim()
    );
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}
