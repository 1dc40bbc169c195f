"""The declarative field mapping (pure: no app, no database)."""

from pathlib import Path

import pytest

from crm_bridge.mapping import InvalidMapping, MappingError, load_mapping, map_record, parse_mapping

EXAMPLES = Path(__file__).parents[2] / "crm_bridge" / "examples"


def _mapping(**fields):
    return parse_mapping({"fields": {"email": "Email", **fields}})


def test_plain_string_rule_copies_the_column():
    profile = map_record({"Email": "a@example.com", "Name": "Ada"}, _mapping(name="Name"))
    assert profile.fields == {"name": "Ada"}


def test_email_is_trimmed_and_lower_cased_because_it_is_the_match_key():
    profile = map_record({"Email": "  Alice.Moreau@Example.COM "}, _mapping())
    assert profile.email == "alice.moreau@example.com"


def test_missing_email_is_rejected_naming_the_column():
    with pytest.raises(MappingError, match=r"missing email.*'Email'"):
        map_record({"Email": "", "Name": "Dave"}, _mapping(name="Name"))


def test_malformed_email_is_rejected():
    with pytest.raises(MappingError, match=r"invalid email 'erin\.example\.com'"):
        map_record({"Email": "erin.example.com"}, _mapping())


def test_value_map_turns_chinese_tier_into_vip():
    mapping = _mapping(tier={"from": "客户等级", "map": {"A类客户": "VIP"}})
    assert map_record({"Email": "z@example.cn", "客户等级": "A类客户"}, mapping).fields == {
        "tier": "VIP"}


def test_strict_value_map_rejects_a_value_it_does_not_know():
    mapping = _mapping(tier={"from": "客户等级", "map": {"A类客户": "VIP"}, "strict": True})
    with pytest.raises(MappingError, match="tier: unknown value 'D类客户'"):
        map_record({"Email": "z@example.cn", "客户等级": "D类客户"}, mapping)


def test_lenient_value_map_passes_unknown_values_through():
    mapping = _mapping(tier={"from": "Segment", "map": {"Enterprise": "VIP"}})
    assert map_record({"Email": "a@example.com", "Segment": "Gold"}, mapping).fields == {
        "tier": "Gold"}


def test_transforms_run_in_order_before_the_value_map():
    mapping = _mapping(tier={"from": "Segment", "transforms": ["strip", "lower"],
                             "map": {"enterprise": "VIP"}, "strict": True})
    assert map_record({"Email": "a@example.com", "Segment": " Enterprise "},
                      mapping).fields == {"tier": "VIP"}


def test_split_makes_a_tag_list_without_blanks_or_duplicates():
    mapping = _mapping(tags={"from": "标签", "transforms": ["split:、"]})
    profile = map_record({"Email": "a@example.cn", "标签": "重要、 续约、、重要"}, mapping)
    assert profile.fields == {"tags": ["重要", "续约"]}


def test_json_list_of_tags_is_taken_as_is():
    mapping = _mapping(tags={"from": "labels", "transforms": ["lower"]})
    profile = map_record({"Email": "a@example.com", "labels": ["VIP", "Renewal"]}, mapping)
    assert profile.fields == {"tags": ["vip", "renewal"]}


def test_dotted_path_reads_nested_json_objects():
    profile = map_record({"contact": {"email": "a@example.com"}, "account": {"name": "ACME"}},
                         parse_mapping({"fields": {"email": "contact.email",
                                                   "company": "account.name"}}))
    assert (profile.email, profile.fields) == ("a@example.com", {"company": "ACME"})


def test_blank_cells_are_left_out_so_stored_values_are_not_cleared():
    profile = map_record({"Email": "a@example.com", "Phone": "  ", "Owner": ""},
                         _mapping(phone={"from": "Phone", "transforms": ["strip"]},
                                  owner="Owner"))
    assert profile.fields == {}


def test_numbers_become_text():
    profile = map_record({"Email": "a@example.cn", "手机": 13800138000}, _mapping(phone="手机"))
    assert profile.fields == {"phone": "13800138000"}


def test_object_in_a_text_field_is_rejected():
    with pytest.raises(MappingError, match="company: 'Account' holds a dict"):
        map_record({"Email": "a@example.com", "Account": {"id": 7}}, _mapping(company="Account"))


def test_record_that_is_not_an_object_is_rejected():
    with pytest.raises(MappingError, match="not an object"):
        map_record(["a@example.com"], _mapping())


def test_external_id_is_kept_apart_from_profile_fields():
    profile = map_record({"Email": "a@example.com", "ID": "C-1"}, _mapping(external_id="ID"))
    assert (profile.external_id, profile.fields) == ("C-1", {})


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"fields": {"name": "Name"}}, 'where "email" comes from'),
        ({"fields": {"email": "Email", "shoe_size": "Size"}}, "unknown target field"),
        ({"fields": {"email": {"from": "Email", "transforms": ["title"]}}}, "unknown transform"),
        ({"fields": {"email": "Email", "company": {"from": "C", "transforms": ["split:,"]}}},
         "only list fields"),
        ({"fields": {"email": "Email", "tier": {"from": "T", "strict": True}}}, "needs a map"),
        ({"fields": {"email": {"from": "Email", "mapp": {}}}}, "unknown setting"),
        ({"email": "Email"}, '"fields" object'),
        ({"fields": {"email": "Email", "name": {"from": ["Last", "First"]}}},
         "only list fields"),
        ({"fields": {"email": "Email", "name": {"from": []}}}, "list of columns"),
    ],
)
def test_mistakes_in_the_mapping_itself_are_reported(data, message):
    with pytest.raises(InvalidMapping, match=message):
        parse_mapping(data)


@pytest.mark.parametrize("name", sorted(path.name for path in EXAMPLES.glob("*.json")))
def test_example_mappings_are_valid(name):
    assert load_mapping(EXAMPLES / name).rules


@pytest.mark.parametrize(("family", "given", "full"), [
    ("陈", "美", "陈美"), ("Chen", "Mei", "Mei Chen"), ("山田", "太郎", "山田太郎"),
    ("김", "민준", "김민준"), ("", "Mei", "Mei"), ("Chen", "", "Chen")])
def test_full_name_puts_the_family_name_first_only_in_scripts_that_do(family, given, full):
    mapping = _mapping(name={"from": ["Last", "First"], "transforms": ["full_name"]})
    record = {"Email": "a@example.com", "Last": family, "First": given}
    assert map_record(record, mapping).fields == {"name": full}


def test_a_list_of_columns_feeds_a_list_field_in_order_skipping_blanks():
    mapping = parse_mapping({"default_region": "CN", "fields": {
        "email": "Email", "phones": {"from": ["Mobile", "Phone"], "transforms": ["e164"]}}})
    record = {"Email": "a@example.com", "Mobile": None, "Phone": "138 0013 8000"}
    assert map_record(record, mapping).phones == ("+8613800138000",)


def test_star_path_reads_a_field_of_every_item_of_a_list():
    record = {"Email": "a@example.com", "Tag": [{"name": "VIP"}, {"id": "2"}, {"name": "华东"}]}
    assert map_record(record, _mapping(tags="Tag[*].name")).fields == {"tags": ["VIP", "华东"]}
