//! Input checks shared by the services. Each names the GraphQL field it checks.

use crate::error::{Reason, ServiceError, ServiceResult};

/// Trims `value` and checks it has 1..=max characters.
pub fn text(field: &'static str, value: &str, max_chars: usize) -> ServiceResult<String> {
    let trimmed = value.trim();
    if trimmed.is_empty() {
        return Err(ServiceError::bad_input(
            Reason::FieldRequired,
            field,
            format!("{}不能为空", label(field)),
        ));
    }
    if trimmed.chars().count() > max_chars {
        return Err(ServiceError::bad_input(
            Reason::TextTooLong,
            field,
            format!("{}不能超过{max_chars}个字", label(field)),
        ));
    }
    Ok(trimmed.to_string())
}

/// A mainland China mobile number: 11 digits starting with 1[3-9].
pub fn phone(field: &'static str, value: &str) -> ServiceResult<String> {
    let digits = value.trim();
    let valid = digits.len() == 11
        && digits.chars().all(|c| c.is_ascii_digit())
        && digits.starts_with('1')
        && matches!(digits.as_bytes()[1], b'3'..=b'9');
    if valid {
        Ok(digits.to_string())
    } else {
        Err(ServiceError::bad_input(
            Reason::PhoneMalformed,
            field,
            "请输入正确的11位手机号",
        ))
    }
}

/// A Chinese label for a field, for messages a resident reads.
fn label(field: &str) -> &str {
    match field {
        "name" => "名称",
        "realName" => "姓名",
        "displayName" => "昵称",
        "building" => "楼栋",
        "unit" => "单元",
        "room" => "房号",
        "reason" => "理由",
        "title" => "标题",
        "description" => "描述",
        "code" => "登录凭证",
        "memo" => "备注",
        "place" => "地点",
        "skill" => "技能",
        // three lists
        "category" => "类别",
        "keyword" => "关键词",
        "skills" => "技能标签",
        "comment" => "评语",
        _ => "该项",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phones() {
        assert!(phone("phone", "13812345678").is_ok());
        assert!(phone("phone", " 19912345678 ").is_ok());
        for bad in [
            "12812345678",
            "1381234567",
            "138123456789",
            "1381234567a",
            "",
        ] {
            assert!(phone("phone", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn texts() {
        assert_eq!(
            text("name", "  和谐社区 ", 10).ok().as_deref(),
            Some("和谐社区")
        );
        assert!(text("name", "   ", 10).is_err());
        assert!(text("name", "一二三四五六", 5).is_err());
    }
}
