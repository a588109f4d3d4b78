import pytest

from browser_tasks.models.file_names import validate_file_name


@pytest.mark.parametrize("name", ["a.txt", "Report 2026 (final).PDF", "data_1.csv", "x+y.json"])
def test_plain_names_of_allowed_types_pass(name: str) -> None:
    assert validate_file_name(name) == name


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("../x.txt", "plain file name"),
        ("dir/x.txt", "plain file name"),
        ("dir\\x.txt", "plain file name"),
        ("a..txt", "plain file name"),
        (".hidden.txt", "start with a letter"),
        ("x.exe", "not an allowed file type"),
        ("noextension", "not an allowed file type"),
        ("", "1 to 255"),
        ("a" * 252 + ".txt", "1 to 255"),
        ("tab\there.txt", "may only hold"),
    ],
)
def test_unsafe_or_unknown_names_are_refused(name: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        validate_file_name(name)
