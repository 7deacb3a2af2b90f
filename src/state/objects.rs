//! Writing the small trees and commits that carry git-agents' state, and
//! reading single files back out of them.

use gix::objs::tree::EntryKind;
use gix::objs::WriteTo;
use gix::ObjectId;

use crate::error::{Context, Error, Result};

/// Writes a tree holding `files` (paths may contain `/`).
pub fn write_tree(repo: &gix::Repository, files: &[(String, Vec<u8>)]) -> Result<ObjectId> {
    let mut editor = repo
        .edit_tree(ObjectId::empty_tree(repo.object_hash()))
        .context(|| "cannot start a tree".into())?;
    for (path, bytes) in files {
        let blob = repo.write_blob(bytes).context(|| format!("cannot write {path}"))?;
        editor
            .upsert(path.as_str(), EntryKind::Blob, blob)
            .context(|| format!("cannot add {path} to a tree"))?;
    }
    let tree = editor.write().context(|| "cannot write a tree".into())?;
    Ok(tree.detach())
}

/// Writes a commit as the configured user (or git-agents' fallback identity).
pub fn write_commit(
    repo: &gix::Repository,
    message: &str,
    tree: ObjectId,
    parents: impl IntoIterator<Item = ObjectId>,
) -> Result<ObjectId> {
    let committer = repo
        .committer()
        .transpose()
        .context(|| "cannot read the committer identity".into())?
        .ok_or_else(|| Error::failure("no committer identity is configured"))?;
    let author = match repo.author() {
        Some(Ok(author)) => author,
        _ => committer,
    };
    let commit = repo
        .new_commit_as(committer, author, message, tree, parents)
        .context(|| "cannot write a commit".into())?;
    Ok(commit.id)
}

/// A commit whose bytes depend only on `file`'s name and content and on
/// `message`: fixed identity, time zero, no parent. Its id can be computed
/// without touching the repository.
pub struct FixedCommit {
    pub blob: Vec<u8>,
    pub tree: gix::objs::Tree,
    pub commit: gix::objs::Commit,
}

impl FixedCommit {
    pub fn new(hash: gix::hash::Kind, file: &str, content: &str, message: &str) -> Result<Self> {
        let blob = content.as_bytes().to_vec();
        let blob_id = hash_of(hash, gix::objs::Kind::Blob, &blob)?;
        let tree = gix::objs::Tree {
            entries: vec![gix::objs::tree::Entry {
                mode: EntryKind::Blob.into(),
                filename: file.into(),
                oid: blob_id,
            }],
        };
        let signature = gix::actor::Signature {
            name: crate::repo::FALLBACK_NAME.into(),
            email: crate::repo::FALLBACK_EMAIL.into(),
            time: gix::date::Time { seconds: 0, offset: 0 },
        };
        let commit = gix::objs::Commit {
            tree: encoded_hash(hash, &tree)?,
            parents: Default::default(),
            author: signature.clone(),
            committer: signature,
            encoding: None,
            message: message.into(),
            extra_headers: Vec::new(),
        };
        Ok(FixedCommit { blob, tree, commit })
    }

    /// The commit's id, computed in memory.
    pub fn id(&self, hash: gix::hash::Kind) -> Result<ObjectId> {
        encoded_hash(hash, &self.commit)
    }

    /// Writes blob, tree and commit; returns the commit's id.
    pub fn write(&self, repo: &gix::Repository) -> Result<ObjectId> {
        repo.write_blob(&self.blob).context(|| "cannot write a blob".into())?;
        repo.write_object(&self.tree).context(|| "cannot write a tree".into())?;
        let id = repo
            .write_object(&self.commit)
            .context(|| "cannot write a commit".into())?;
        Ok(id.detach())
    }
}

fn hash_of(hash: gix::hash::Kind, kind: gix::objs::Kind, data: &[u8]) -> Result<ObjectId> {
    gix::objs::compute_hash(hash, kind, data).context(|| "cannot hash an object".into())
}

fn encoded_hash(hash: gix::hash::Kind, object: &impl WriteTo) -> Result<ObjectId> {
    let mut data = Vec::new();
    object
        .write_to(&mut data)
        .context(|| "cannot encode an object".into())?;
    hash_of(hash, object.kind(), &data)
}

/// The text of `path` in the tree of commit `commit`.
pub fn read_file(repo: &gix::Repository, commit: ObjectId, path: &str) -> Result<String> {
    let tree = repo
        .find_commit(commit)
        .and_then(|c| c.tree())
        .context(|| format!("cannot read commit {commit}"))?;
    let entry = tree
        .lookup_entry_by_path(path)
        .context(|| format!("cannot read {path} in {commit}"))?
        .ok_or_else(|| Error::failure(format!("commit {commit} has no {path}")))?;
    let object = entry.object().context(|| format!("cannot read {path} in {commit}"))?;
    Ok(String::from_utf8_lossy(&object.data).into_owned())
}

/// Serde for an optional object id kept in a record as its hex text (what
/// the records have always held, so old refs read), parsed once on read:
/// a malformed id makes the record unreadable instead of a silent `None`
/// wherever it is used. gix's own serde feature would write a byte array.
pub mod oid_text {
    use gix::ObjectId;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(oid: &Option<ObjectId>, out: S) -> Result<S::Ok, S::Error> {
        match oid {
            Some(oid) => out.serialize_str(&oid.to_hex().to_string()),
            None => out.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(input: D) -> Result<Option<ObjectId>, D::Error> {
        let Some(text) = Option::<String>::deserialize(input)? else {
            return Ok(None);
        };
        ObjectId::from_hex(text.as_bytes())
            .map(Some)
            .map_err(|e| serde::de::Error::custom(format!("`{text}` is not an object id: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::super::MergeRecord;

    /// A stopped merge's `merge.toml` as the code before typed ids wrote it.
    const STOPPED_BEFORE: &str = r#"target = "main"
host = "box"
pid = 42
started = 1700000000
stopped_task = "docs"
seen = "0123456789abcdef0123456789abcdef01234567"
why = "conflict"
paths = ["a.txt"]

[options]
squash = false
retries = 0
no_cache = false
"#;

    #[test]
    fn a_merge_record_written_before_typed_ids_reads_and_writes_back_the_same_text() {
        let record: MergeRecord = toml::from_str(STOPPED_BEFORE).expect("an old record reads");
        assert_eq!(
            record.seen.map(|s| s.to_string()).as_deref(),
            Some("0123456789abcdef0123456789abcdef01234567")
        );
        assert_eq!(toml::to_string(&record).expect("writes"), STOPPED_BEFORE);
        let malformed = STOPPED_BEFORE.replace("0123456789abcdef0123456789abcdef01234567", "0123");
        let err = toml::from_str::<MergeRecord>(&malformed).expect_err("a malformed id is an error");
        assert!(err.message().contains("`0123` is not an object id"), "{err}");
    }
}
