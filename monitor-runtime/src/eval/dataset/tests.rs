use super::*;

#[test]
fn rows_of_hand_made_inputs_keep_a_scalar_under_input() {
    assert_eq!(DatasetRow::new("2+2?").inputs["input"], "2+2?");
    assert!(DatasetRow::new(()).inputs.is_empty());
}

#[test]
fn the_digest_changes_with_the_rows_and_only_with_them() {
    let one = Dataset::new("a").with_row(DatasetRow::new(serde_json::json!({"q": 1})));
    let same = Dataset::new("b").with_row(DatasetRow::new(serde_json::json!({"q": 1})));
    let other = Dataset::new("a").with_row(DatasetRow::new(serde_json::json!({"q": 2})));
    assert_eq!(one.digest(), same.digest());
    assert_ne!(one.digest(), other.digest());
    assert_eq!(one.digest().len(), 16);
}
